"""From a canvas drawing or a photo to a 28x28 image prepared the way MNIST was.

MNIST's recipe: crop to the ink, fit into a 20x20 box keeping the aspect ratio
(anti-aliased), then place it in 28x28 so the centre of mass sits at the centre.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageFilter, ImageOps, UnidentifiedImageError

from .png_chunks import ChunkCounts, count_chunks

BOX = 20  # MNIST digits are fitted into a 20x20 box ...
SIZE = 28  # ... inside a 28x28 image
CENTRE = 14.0  # where MNIST's centres of mass lie, in pixel-index coordinates (measured on the train set)
INK_THRESHOLD = 0.2  # fraction of full contrast that counts as ink when cropping
MIN_INK_FRACTION = 5e-4  # below this share of inked pixels the canvas counts as empty
MIN_CONTRAST = 0.1  # a flatter image than this holds no digit
MOSTLY_INK = 0.4  # ink on more than this share of the input is a filled area, not pen strokes
DOT_SIDE = 0.16  # a blob of ink whose box is under this share of the input's side is a dot ...
DOT_FILL = 0.6  # ... when it covers at least this share of its box
MARK_HEIGHT = 0.25  # marks side by side count when each is at least this share of the ink's height ...
MARK_GAP = 0.08  # ... and an empty gap of at least this share of that height parts them
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
WORK_SIDE = 1024  # files are shrunk to fit this before preprocessing: ample for a 20 px digit
BACKGROUND_GRID = 64  # a photo's lighting is estimated on a grid this coarse ...
BACKGROUND_WINDOW = 15  # ... as the median over this many cells (about a quarter of the image)
MAX_UPLOAD_BYTES = 10 * 2**20  # the 10 MB of server.maxUploadSize in .streamlit/config.toml
UPLOAD_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "gif": "GIF", "bmp": "BMP", "webp": "WEBP",
                  "tif": "TIFF", "tiff": "TIFF"}  # file name extension -> the format read
UPLOAD_TYPES = tuple(UPLOAD_FORMATS)  # the extensions a file uploader should offer
ACCEPTED = "PNG, JPEG, GIF, BMP, WEBP or TIFF"
MAX_UPLOAD_CHUNKS = 4096  # a 10 MB PNG in libpng's 8 KB IDAT chunks is 1,280 of them
MAX_UPLOAD_EXTRA_CHUNKS = 256  # chunks that are not image data: text, a colour profile, EXIF...
MAX_UPLOAD_EXTRA_BYTES = 2 * 2**20  # their bytes together: a camera's EXIF and profile are tens of KB
_WARNINGS_LOCK = threading.Lock()  # catch_warnings swaps global state: one thread at a time


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


@dataclass(frozen=True)
class Upload:
    """An uploaded image file, decoded, and what the student should know about how it was read."""

    image: Image.Image  # first frame, upright, in L, LA, RGB or RGBA, at most WORK_SIDE on a side
    notes: tuple[str, ...]  # plain sentences, e.g. that only the first frame of an animation is used


def load_image(source: str | os.PathLike | bytes | io.IOBase) -> Image.Image:
    """Open an image file (path, bytes or file object) as ``read_upload`` does, with no byte limit.

    Raises:
        ImageError: missing, unreadable, not an accepted image, damaged, or absurdly large.
    """
    try:
        if isinstance(source, (str, os.PathLike)):
            source = Path(source).read_bytes()
        elif not isinstance(source, bytes):
            source = source.read()
    except FileNotFoundError as err:
        raise ImageError(f"file not found: {source}") from err
    except OSError as err:
        raise ImageError(f"cannot read {source}: {err}") from err
    return _read(source, "").image


def read_upload(data: bytes, name: str = "") -> Upload:
    """Decode an uploaded image file, refusing anything that is not one whole, sane image.

    Args:
        data: the file's bytes.
        name: the file's name; only used to point out an extension that does not match the content.

    Returns:
        An ``Upload``: the first frame, turned upright, shrunk to fit WORK_SIDE, in L, LA, RGB
        or RGBA; and plain notes for the student on how it was read.

    Raises:
        ImageError: the file is empty, over MAX_UPLOAD_BYTES, not an image, not one of the
            accepted formats, cut short or damaged, or over MAX_PIXELS pixels.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"The file is {len(data) / 2**20:.1f} MB; at most {MAX_UPLOAD_BYTES // 2**20} MB "
                         "is accepted. Shrink or crop the photo first.")
    return _read(data, name)


def _read(data: bytes, name: str) -> Upload:
    """``read_upload`` without the byte limit."""
    if not data:
        raise ImageError(f"The file is empty. Upload a {ACCEPTED} image of one digit.")
    if data.startswith(PNG_SIGNATURE):
        _check_upload_chunks(data)
    with _open(data) as img:
        kind = _kind(img)
        notes = [*_name_notes(name, kind), *_frame_notes(img, kind)]
        img.draft("L", (WORK_SIDE, WORK_SIDE))  # JPEGs decode straight at a reduced size
        _decode(img)
        with _quiet():  # a damaged EXIF block only costs the orientation
            orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
            upright = ImageOps.exif_transpose(img)  # a copy: ``img`` is closed below
    image = _eight_bit(upright)
    if orientation in range(2, 9):
        notes.append("Turned upright using the photo's orientation tag.")
    image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)  # a digit needs no more
    return Upload(image, tuple(notes))


def _check_upload_chunks(data: bytes) -> None:
    """Refuse a PNG upload made of far more chunks than a picture needs, before PIL reads any (it reads
    every chunk before the image data as it opens the file)."""
    counts = count_chunks(data, MAX_UPLOAD_CHUNKS, MAX_UPLOAD_EXTRA_CHUNKS, MAX_UPLOAD_EXTRA_BYTES)
    if _over(counts, MAX_UPLOAD_CHUNKS, MAX_UPLOAD_EXTRA_CHUNKS, MAX_UPLOAD_EXTRA_BYTES):
        raise ImageError(f"The PNG file is made of over {MAX_UPLOAD_CHUNKS:,} pieces, or over "
                         f"{MAX_UPLOAD_EXTRA_CHUNKS} pieces ({MAX_UPLOAD_EXTRA_BYTES // 2**20} MB) that are not part "
                         f"of the picture: far more than an image needs, so it was not read. Save it again from an "
                         f"image editor, or take a screenshot of it.")


def _open(data: bytes) -> Image.Image:
    """Open the file's header only, refusing non-images, other formats and decompression bombs."""
    try:
        with _quiet():  # e.g. DecompressionBombWarning: MAX_PIXELS, lower, refuses those images anyway
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:
        raise _too_large(f"over {2 * Image.MAX_IMAGE_PIXELS:,} pixels") from err
    except UnidentifiedImageError as err:
        raise ImageError(f"The file is not a readable image, whatever its name says. Accepted: {ACCEPTED}.") from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise _damaged() from err
    if _kind(img) not in UPLOAD_FORMATS.values():
        img.close()
        raise ImageError(f"The file is in {img.format} format, which is not accepted. Save it as {ACCEPTED}.")
    if img.width * img.height > MAX_PIXELS:
        img.close()
        raise _too_large(f"{img.width}x{img.height} pixels")
    return img


@contextlib.contextmanager
def _quiet():
    """Silence PIL's warnings about a file: it is then read, or refused with a message of our own."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _kind(img: Image.Image) -> str:
    """The file's format, as the student knows it: phones' multi-picture JPEGs are JPEGs."""
    return "JPEG" if img.format == "MPO" else img.format


def _name_notes(name: str, kind: str) -> list[str]:
    extension = Path(name).suffix.lower()
    if not extension or UPLOAD_FORMATS.get(extension[1:]) == kind:
        return []
    return [f"The file's name says {extension} but it is a {kind}; read as {kind}."]


def _frame_notes(img: Image.Image, kind: str) -> list[str]:
    if kind == "JPEG" or not getattr(img, "is_animated", False):  # an MPO's extra frames are previews
        return []
    if kind == "TIFF":
        return ["This TIFF file holds several pages: only the first one is used."]
    return ["This is an animated image: only its first frame is used."]


def _decode(img: Image.Image) -> None:
    """Decode the pixels in full; a file that ends early raises instead of giving half an image."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: cut-short uploads would pass as images.")
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise _damaged() from err


def _eight_bit(img: Image.Image) -> Image.Image:
    """In L, LA, RGB or RGBA: what a page can show and ``thumbnail`` shrinks smoothly."""
    if img.mode in ("L", "LA", "RGB", "RGBA"):
        return img
    if img.mode.startswith(("I", "F")):  # 16-bit, 32-bit or float grey levels
        return Image.fromarray((np.clip(_scaled(np.asarray(img)), 0, 1) * 255).round().astype(np.uint8))
    if img.mode == "1":
        return img.convert("L")
    return img.convert("RGBA" if img.has_transparency_data else "RGB")


def _too_large(size: str) -> ImageError:
    return ImageError(f"The image is {size}; at most {MAX_PIXELS:,} pixels are accepted. "
                      "Shrink it to a few megapixels first.")


def _damaged() -> ImageError:
    return ImageError("The image is damaged or cut short: its pixels could not be read in full. "
                      f"Upload the whole file again, or save it anew as {ACCEPTED}.")


def to_ink(image: Image.Image | np.ndarray, light_ink: bool = False) -> np.ndarray:
    """Any image (PIL in any mode, or an array) as float ink in [0, 1], 1 where the stroke is.

    Strokes may be light on dark, dark on light, or only in the alpha channel
    (a transparent canvas); the background is taken as the most common level,
    unless ``light_ink`` says that the levels are ink already (white on black).
    """
    gray, alpha = _gray_and_alpha(image)
    if alpha is not None and np.ptp(alpha) > MIN_CONTRAST:
        return np.clip(alpha, 0.0, 1.0)
    if light_ink:  # guessing would read a canvas painted more than half white as dark ink on white
        return np.clip(gray if alpha is None else gray * alpha, 0.0, 1.0)
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
        # weighted sum, not a matrix product: BLAS' thread pool spins when many sessions call at once
        gray = color[..., 0] if color.shape[2] == 1 else \
            0.299 * color[..., 0] + 0.587 * color[..., 1] + 0.114 * color[..., 2]
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


def canvas_to_mnist(image: Image.Image | np.ndarray, light_ink: bool = False) -> Preprocessed:
    """Turn a drawing or photo of one digit into the network's 28x28 input.

    Args:
        image: a PIL image in any mode, or an array (H x W, or H x W x 1-4 channels;
            uint8/uint16 or float). Light-on-dark, dark-on-light and alpha-only strokes work.
        light_ink: the input is white ink on black, as the drawing canvas is. Then its levels
            are the ink as they stand; otherwise the most common level is taken as the paper,
            which turns a canvas painted more than half white into a negative.

    Returns:
        A ``Preprocessed`` holding every step; its ``image`` is None when the
        input is empty or holds only a speck.
    """
    ink = to_ink(image, light_ink)
    box = ink_box(ink)
    if box is None:
        return Preprocessed(ink, None, None, None, None, None, None)
    top, left, bottom, right = box
    cropped = ink[top:bottom, left:right]
    fitted = fit_box(cropped)
    image28, com, offset = place_by_mass(fitted)
    return Preprocessed(ink, box, cropped, fitted, image28, com, offset)


def doubts(prep: Preprocessed) -> tuple[str, ...]:
    """Plain reasons why the input may not be one digit, to show beside the prediction.

    Args:
        prep: the result of ``canvas_to_mnist``.

    Returns:
        One sentence per doubt; empty for a plausible digit and for an empty input (no prediction).
    """
    if prep.empty:
        return ()
    mask = prep.ink > INK_THRESHOLD
    if mask.mean() > MOSTLY_INK:  # a filled area: whatever else holds follows from that
        return ("Most of the canvas is ink: draw one digit with the pen, not a filled area.",)
    top, left, bottom, right = prep.box
    marks = mask[top:bottom, left:right]
    found = (
        (_separate_marks(marks) >= 2, "This looks like several marks side by side; the network reads one digit "
                                      "at a time."),
        (_is_dot(marks, mask.shape), "That is only a dot: draw a whole digit, as large as the canvas allows."),
        (_edge_to_edge(prep.box, mask.shape), "The ink touches two opposite edges of the canvas: keep one digit "
                                              "inside the canvas, away from its border."),
    )
    return tuple(sentence for hit, sentence in found if hit)


def _separate_marks(marks: np.ndarray) -> int:
    """How many tall marks stand side by side, parted by clear gaps of empty columns.

    Strokes whose columns overlap or nearly touch are one mark: a 4 drawn in two strokes,
    a 7 with a crossbar, a 5 with its bar lifted.
    """
    height = marks.shape[0]
    edges = np.flatnonzero(np.diff(marks.any(0).astype(np.int8), prepend=0, append=0))
    groups = [[int(edges[0]), int(edges[1])]]
    for start, end in zip(edges[2::2], edges[3::2]):
        if start - groups[-1][1] < MARK_GAP * height:
            groups[-1][1] = int(end)
        else:
            groups.append([int(start), int(end)])
    spans = [np.flatnonzero(marks[:, start:end].any(1)) for start, end in groups]
    return sum(rows[-1] - rows[0] + 1 >= MARK_HEIGHT * height for rows in spans)


def _is_dot(marks: np.ndarray, shape: tuple[int, int]) -> bool:
    """A small blob: the ink box is tiny next to the input and the ink fills most of it."""
    return max(marks.shape) < DOT_SIDE * max(shape) and marks.mean() >= DOT_FILL


def _edge_to_edge(box: tuple[int, int, int, int], shape: tuple[int, int]) -> bool:
    top, left, bottom, right = box
    return (top == 0 and bottom == shape[0]) or (left == 0 and right == shape[1])


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CANVAS_DATA_URL = "data:image/png;base64,"  # how the drawing canvas sends its picture
MAX_CANVAS_SIDE = 1280  # the 320 px canvas at a device pixel ratio of 4, the highest phones have
MAX_CANVAS_PNG_BYTES = 4 * 2**20  # a busy 1280x1280 drawing is a few hundred kB
MAX_CANVAS_OBJECTS = 300  # strokes kept to redraw a drawing; a digit has a handful
MAX_CANVAS_JSON_CHARS = 2 * 2**20  # those strokes as JSON; a digit's are tens of kB
MAX_CANVAS_CHUNKS = 1024  # a browser writes image data in 8 KB IDAT chunks: 4 MB is 512 of them
MAX_CANVAS_EXTRA_CHUNKS = 64  # chunks that are not image data (IHDR, IEND, a colour profile...); a browser writes a few
MAX_CANVAS_EXTRA_BYTES = 64 * 2**10  # their bytes together
_OTHER_FORMATS = {b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"RIFF": "WEBP", b"BM": "BMP", b"II*\x00": "TIFF",
                  b"MM\x00*": "TIFF"}


def png_size(data: bytes) -> tuple[int, int]:
    """A PNG's declared ``(width, height)``, read from its header without decoding anything.

    Args:
        data: the file's bytes; the first 24 are enough.

    Returns:
        The width and height its IHDR chunk declares.

    Raises:
        ImageError: the bytes are not a PNG, or end before the size is declared.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) or bytes(data[:8]) != PNG_SIGNATURE:
        other = next((kind for magic, kind in _OTHER_FORMATS.items()
                      if isinstance(data, (bytes, bytearray, memoryview)) and bytes(data[:len(magic)]) == magic), None)
        raise ImageError(f"This is not a PNG file (it does not start with the PNG signature)"
                         f"{f'; it is a {other} picture' if other else ''}.")
    if len(data) < 24 or bytes(data[12:16]) != b"IHDR":
        raise ImageError("This PNG file is cut short or damaged: its header (IHDR) is missing.")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not 0 < width < 2**31 or not 0 < height < 2**31:
        raise ImageError(f"This PNG file declares an impossible size, {width}x{height} pixels.")
    return width, height


def decode_canvas(data_url: str | None) -> np.ndarray | None:
    """The drawing canvas's picture as an RGBA uint8 array, its cost bounded before it is decoded.

    The canvas sends a PNG as a data URL; a forged message can declare any size in a few
    hundred bytes. The string's length and the PNG's declared size are checked first, so
    anything larger than the canvas can be is refused without being decoded.

    Args:
        data_url: ``data:image/png;base64,...`` as the canvas sends it, or None (nothing drawn yet).

    Returns:
        An H x W x 4 uint8 array, or None for None.

    Raises:
        ImageError: not a PNG data URL, over MAX_CANVAS_PNG_BYTES, larger than
            MAX_CANVAS_SIDE on a side, not 8 bits per channel, too many chunks (``check_png_chunks``)
            or damaged.
    """
    if data_url is None:
        return None
    if not isinstance(data_url, str) or not data_url.startswith(CANVAS_DATA_URL):
        raise ImageError("The drawing did not arrive as a PNG picture, so it was not read. Clear and draw again.")
    if len(data_url) - len(CANVAS_DATA_URL) > 4 * -(-MAX_CANVAS_PNG_BYTES // 3):
        raise ImageError(f"The drawing arrived as more than {MAX_CANVAS_PNG_BYTES // 2**20} MB, far more than the "
                         f"canvas makes, so it was not read. Clear and draw again.")
    start = len(CANVAS_DATA_URL)
    width, height = png_size(_unbase64(data_url[start:start + 44]))  # 33 bytes: signature and IHDR
    if max(width, height) > MAX_CANVAS_SIDE:
        raise ImageError(f"The drawing arrived as {width}x{height} pixels, larger than the canvas can be "
                         f"({MAX_CANVAS_SIDE}x{MAX_CANVAS_SIDE} at most), so it was not read. Clear and draw again.")
    data = _unbase64(data_url[start:])
    check_png_chunks(data)
    try:
        # no _quiet() here: the size is checked above, so PIL has no decompression bomb to warn of, and its
        # warnings filter costs a lock and more than the decoding on the path every stroke takes
        with Image.open(io.BytesIO(data), formats=("PNG",)) as img:
            img.load()
            return np.asarray(img if img.mode == "RGBA" else img.convert("RGBA"))
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise _damaged_drawing() from err


def check_png_chunks(data: bytes) -> None:
    """Refuse a canvas PNG whose decoding would cost more than its size says, from its chunk headers alone.

    Thousands of empty or text chunks make a small file slow to decode; a 16-bit PNG is not
    what a canvas sends. Only the 8-byte header of each chunk is read, and at most
    MAX_CANVAS_CHUNKS of them: nothing is decompressed.

    Raises:
        ImageError: not a PNG, not 8 bits per channel, more than MAX_CANVAS_CHUNKS chunks,
            more than MAX_CANVAS_EXTRA_CHUNKS or MAX_CANVAS_EXTRA_BYTES that are not image data
            (IDAT), or cut short.
    """
    png_size(data)
    if len(data) < 33:  # the signature and a whole IHDR chunk
        raise _damaged_drawing()
    if data[24] != 8:
        raise ImageError(f"The drawing arrived as a PNG of {data[24]} bits per channel; the canvas sends 8, so it "
                         f"was not read. Clear and draw again.")
    counts = count_chunks(data, MAX_CANVAS_CHUNKS, MAX_CANVAS_EXTRA_CHUNKS, MAX_CANVAS_EXTRA_BYTES)
    if _over(counts, MAX_CANVAS_CHUNKS, MAX_CANVAS_EXTRA_CHUNKS, MAX_CANVAS_EXTRA_BYTES):
        raise ImageError(f"The drawing arrived in over {MAX_CANVAS_CHUNKS} pieces, or over "
                         f"{MAX_CANVAS_EXTRA_CHUNKS} pieces ({MAX_CANVAS_EXTRA_BYTES // 2**10} KB) that are not "
                         f"part of the picture, far more than the canvas makes, so it was not read. Clear and "
                         f"draw again.")
    if not counts.complete:
        raise _damaged_drawing()


def _over(counts: ChunkCounts, chunks: int, extra_chunks: int, extra_bytes: int) -> bool:
    return counts.chunks > chunks or counts.extra_chunks > extra_chunks or counts.extra_bytes > extra_bytes


def _damaged_drawing() -> ImageError:
    return ImageError("The drawing arrived damaged, so it was not read. Clear and draw again.")


def _unbase64(text: str) -> bytes:
    """Base64 text as bytes, whole groups of 4 characters only: a prefix of the picture decodes alone."""
    try:
        return base64.b64decode(text[:len(text) // 4 * 4], validate=True)
    except binascii.Error as err:
        raise ImageError("The drawing arrived garbled (not base64), so it was not read. Clear and draw again.") from err


def bounded_canvas_objects(objects: object) -> list:
    """The canvas's strokes to keep for redrawing, or ``[]`` when there are absurdly many or large ones.

    A real digit is a handful of strokes; a forged message could hold millions, which the
    session would keep and send back to the browser on every visit. Those are dropped: the
    prediction stands, and the canvas comes back empty.
    """
    if not isinstance(objects, list) or len(objects) > MAX_CANVAS_OBJECTS:
        return []
    if not all(isinstance(o, dict) for o in objects):
        return []
    size = len(json.dumps(objects, separators=(",", ":"), default=str))
    return objects if size <= MAX_CANVAS_JSON_CHARS else []
