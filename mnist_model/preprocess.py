"""From a canvas drawing or a photo to a 28x28 image prepared the way MNIST was.

MNIST's recipe: crop to the ink, fit into a 20x20 box keeping the aspect ratio
(anti-aliased), then place it in 28x28 so the centre of mass sits at the centre.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

BOX = 20  # MNIST digits are fitted into a 20x20 box ...
SIZE = 28  # ... inside a 28x28 image
CENTRE = 14.0  # where MNIST's centres of mass lie, in pixel-index coordinates (measured on the train set)
INK_THRESHOLD = 0.2  # fraction of full contrast that counts as ink when cropping
MIN_INK_FRACTION = 5e-4  # below this share of inked pixels the canvas counts as empty
MIN_CONTRAST = 0.1  # a flatter image than this holds no digit
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
WORK_SIDE = 1024  # files are shrunk to fit this before preprocessing: ample for a 20 px digit
BACKGROUND_GRID = 64  # a photo's lighting is estimated on a grid this coarse ...
BACKGROUND_WINDOW = 15  # ... as the median over this many cells (about a quarter of the image)


class ImageError(ValueError):
    """An image file cannot be read; the message says why."""


@dataclass(frozen=True)
class Preprocessed:
    """Every step from the input to the network's 28x28 input, for showing and for predicting."""

    ink: np.ndarray  # input as float ink in [0, 1] (1 = stroke), at its own size
    box: tuple[int, int, int, int] | None  # (top, left, bottom, right) of the ink, bottom/right exclusive
    cropped: np.ndarray | None  # the ink inside the box
    fitted: np.ndarray | None  # cropped, scaled so its longer side is 20 px
    image: np.ndarray | None  # 28x28 float32 in [0, 1], the network's input; None when empty
    centre_of_mass: tuple[float, float] | None  # of ``fitted``, in its pixel coordinates
    offset: tuple[int, int] | None  # where ``fitted``'s top-left corner lands in the 28x28 image

    @property
    def empty(self) -> bool:
        return self.image is None


def load_image(source: str | os.PathLike | bytes | io.IOBase) -> Image.Image:
    """Open an image file (path, bytes or file object), fully decoded.

    Raises:
        ImageError: missing, unreadable, not an image, or absurdly large.
    """
    try:
        if isinstance(source, bytes):
            source = io.BytesIO(source)
        with Image.open(source) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(f"image is {img.width}x{img.height}; at most {MAX_PIXELS:,} pixels.")
            img.draft("L", (WORK_SIDE, WORK_SIDE))  # JPEGs decode straight at a reduced size
            img.load()
            img = ImageOps.exif_transpose(img) or img
            img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)  # a digit needs no more
            return img
    except FileNotFoundError as err:
        raise ImageError(f"file not found: {source}") from err
    except (UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise ImageError("not a readable image (expected PNG or JPEG).") from err
    except (OSError, SyntaxError, ValueError) as err:
        if isinstance(err, ImageError):
            raise
        raise ImageError(f"the image is damaged or truncated ({err}).") from err


def to_ink(image: Image.Image | np.ndarray) -> np.ndarray:
    """Any image (PIL in any mode, or an array) as float ink in [0, 1], 1 where the stroke is.

    Strokes may be light on dark, dark on light, or only in the alpha channel
    (a transparent canvas); the background is taken as the most common level.
    """
    gray, alpha = _gray_and_alpha(image)
    if alpha is not None and np.ptp(alpha) > MIN_CONTRAST:
        return np.clip(alpha, 0.0, 1.0)
    background = _background(gray)
    ink = background - gray if np.median(background) > 0.5 else gray - background
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        return np.zeros_like(gray)
    floor = 0.1 * peak  # mute paper texture and sensor noise in photos
    return np.clip((ink - floor) / (peak - floor), 0.0, 1.0)


def _background(gray: np.ndarray) -> np.ndarray:
    """The paper's level at each pixel. A drawn canvas is one flat colour; a photo's lighting
    varies, so there it is a wide median, which the thin strokes of a digit do not move."""
    level = float(np.median(gray))
    flat = np.mean(gray == level) > 0.5
    if flat or min(gray.shape) < 4 * BACKGROUND_GRID:
        return np.full_like(gray, level)
    small = Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8)).resize(
        (BACKGROUND_GRID, BACKGROUND_GRID), Image.Resampling.BOX)
    paper = small.filter(ImageFilter.MedianFilter(BACKGROUND_WINDOW))
    return np.asarray(paper.resize(gray.shape[::-1], Image.Resampling.BILINEAR), np.float32) / 255.0


def _gray_and_alpha(image) -> tuple[np.ndarray, np.ndarray | None]:
    """Luminance and alpha (None when opaque) as float arrays in [0, 1]."""
    if isinstance(image, Image.Image):
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            return _scaled(np.asarray(image)), None
        has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        image = np.asarray(image.convert("RGBA" if has_alpha else "L"))
    arr = _scaled(np.asarray(image))
    if arr.ndim == 2:
        return arr, None
    if arr.ndim == 3 and arr.shape[2] in (1, 2, 3, 4):
        color, alpha = (arr[..., :-1], arr[..., -1]) if arr.shape[2] in (2, 4) else (arr, None)
        gray = color[..., 0] if color.shape[2] == 1 else color @ np.array([0.299, 0.587, 0.114])
        return gray, alpha
    raise ValueError(f"expected a 2-D image or H x W x 1-4 channels, got shape {arr.shape}")


def _scaled(arr: np.ndarray) -> np.ndarray:
    """Values to [0, 1]: integers by the smallest of 8 or 16 bits that holds them, floats above 1 by 255."""
    if arr.dtype == bool:
        return arr.astype(np.float32)
    peak = float(arr.max(initial=0))
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / (255.0 if peak <= 255 else 65535.0 if peak <= 65535 else peak)
    return arr.astype(np.float32) / (255.0 if peak > 1.0 else 1.0)


def ink_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box of the ink, or None when there is too little to be a digit."""
    mask = ink > INK_THRESHOLD
    if mask.sum() < max(3, MIN_INK_FRACTION * ink.size):
        return None
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def fit_box(cropped: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio, anti-aliased."""
    h, w = cropped.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    fitted = np.asarray(Image.fromarray(cropped.astype(np.float32), mode="F").resize(size, method))
    peak = fitted.max()
    return np.clip(fitted / peak if peak > 0 else fitted, 0.0, 1.0)


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    total = img.sum()
    rows, cols = np.indices(img.shape)
    return float((rows * img).sum() / total), float((cols * img).sum() / total)


def place_by_mass(fitted: np.ndarray) -> tuple[np.ndarray, tuple[float, float], tuple[int, int]]:
    """Put ``fitted`` in a 28x28 image with its centre of mass at MNIST's centre."""
    h, w = fitted.shape
    com = centre_of_mass(fitted)
    top = min(max(int(np.floor(CENTRE - com[0] + 0.5)), 0), SIZE - h)
    left = min(max(int(np.floor(CENTRE - com[1] + 0.5)), 0), SIZE - w)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top:top + h, left:left + w] = fitted
    return out, com, (top, left)


def canvas_to_mnist(image: Image.Image | np.ndarray) -> Preprocessed:
    """Turn a drawing or photo of one digit into the network's 28x28 input.

    Args:
        image: a PIL image in any mode, or an array (H x W, or H x W x 1-4 channels;
            uint8/uint16 or float). Light-on-dark, dark-on-light and alpha-only strokes work.

    Returns:
        A ``Preprocessed`` holding every step; its ``image`` is None when the
        input is empty or holds only a speck.
    """
    ink = to_ink(image)
    box = ink_box(ink)
    if box is None:
        return Preprocessed(ink, None, None, None, None, None, None)
    top, left, bottom, right = box
    cropped = ink[top:bottom, left:right]
    fitted = fit_box(cropped)
    image28, com, offset = place_by_mass(fitted)
    return Preprocessed(ink, box, cropped, fitted, image28, com, offset)
