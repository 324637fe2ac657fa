"""Uploaded image files: every format and mode a student may send, and every broken file, read or refused."""

import io
import struct
import time
import zlib

import numpy as np
import pytest
from conftest import stroke_image
from PIL import Image, ImageDraw, ImageFile

from mnist_model.engine.preprocess import (
    MAX_UPLOAD_BYTES,
    UPLOAD_TYPES,
    WORK_SIDE,
    ImageError,
    canvas_to_mnist,
    load_image,
    read_upload,
)

pytestmark = pytest.mark.filterwarnings("error")  # no PIL warning may leak out of read_upload

SEVEN = [(60, 50), (220, 50), (120, 250)]
ONE = [(140, 40), (140, 240)]
REFERENCE = canvas_to_mnist(stroke_image(SEVEN)).image
ANIMATED = "This is an animated image: only its first frame is used."
UPRIGHT = "Turned upright using the photo's orientation tag."


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def on_paper(points=SEVEN, mode="L", size=280, width=20) -> Image.Image:
    """Dark ink on white paper, as a scan or a photo shows a digit."""
    return stroke_image(points, size=size, width=width, mode=mode, ink=(20, 20, 20, 255),
                        background=(250, 250, 250, 255))


def sixteen_bit() -> Image.Image:
    return Image.fromarray(np.asarray(on_paper()).astype(np.uint16) * 257)


def palette(transparent: bool) -> Image.Image:
    """Index 0 is the paper (transparent when asked), index 1 the ink."""
    img = Image.new("P", (280, 280), 0)
    img.putpalette([255, 255, 255, 0, 0, 0])
    ImageDraw.Draw(img).line(SEVEN, fill=1, width=20)
    if transparent:
        img.info["transparency"] = 0
    return img


def grey_ink_in_alpha() -> Image.Image:
    alpha = np.asarray(stroke_image(SEVEN, mode="L"))
    return Image.fromarray(np.stack([np.zeros_like(alpha), alpha], -1), mode="LA")


def frames(fmt: str, **params) -> bytes:
    first, second = on_paper(mode="RGB"), on_paper(ONE, mode="RGB")
    return encoded(first, fmt, save_all=True, append_images=[second], **params)


def sideways(orientation: int) -> bytes:
    """A photo stored turned, with the EXIF tag that tells a viewer how to turn it upright."""
    stored = on_paper(mode="RGB").transpose({3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
                                             8: Image.Transpose.ROTATE_270}[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(stored, "JPEG", quality=90, exif=exif)


def photo() -> bytes:
    """Dark ink on white paper under uneven light, with sensor noise, as a phone takes it."""
    scale = 1000 / 280
    paper = np.asarray(stroke_image([(x * scale, y * scale) for x, y in SEVEN], size=1000, width=70, mode="L",
                                    ink=(50,) * 4, background=(210,) * 4)).astype(float)
    light = np.linspace(-35, 35, 1000)[None, :] + np.random.default_rng(0).normal(0, 6, (1000, 1000))
    return encoded(Image.fromarray(np.clip(paper + light, 0, 255).astype(np.uint8)), "JPEG", quality=85)


def huge(width: int, height: int, fmt: str, **params) -> bytes:
    """A legal but huge file: the 7 drawn in the middle of a ``width`` x ``height`` page."""
    scale = min(width, height) / 280
    dx = (width - min(width, height)) / 2
    points = [(x * scale + dx, y * scale) for x, y in SEVEN]
    img = Image.new("L", (width, height), 250)
    ImageDraw.Draw(img).line(points, fill=20, width=round(20 * scale))
    return encoded(img, fmt, **params)


READABLE = [
    ("png", lambda: encoded(on_paper(), "PNG"), "seven.png", "L", ()),
    ("jpeg", lambda: encoded(on_paper(mode="RGB"), "JPEG", quality=90), "seven.jpg", "RGB", ()),
    ("gif", lambda: encoded(on_paper().convert("P"), "GIF"), "seven.gif", "P", ()),
    ("bmp", lambda: encoded(on_paper(mode="RGB"), "BMP"), "seven.bmp", "RGB", ()),
    ("webp", lambda: encoded(on_paper(mode="RGB"), "WEBP", quality=90), "seven.webp", "RGB", ()),
    ("tiff", lambda: encoded(on_paper(), "TIFF", compression="tiff_lzw"), "seven.tif", "L", ()),
    ("16-bit grey png", lambda: encoded(sixteen_bit(), "PNG"), "seven.png", "I;16", ()),
    ("palette png", lambda: encoded(palette(False), "PNG"), "seven.png", "P", ()),
    ("palette png, transparent paper", lambda: encoded(palette(True), "PNG"), "seven.png", "P", ()),
    ("cmyk jpeg", lambda: encoded(on_paper(mode="RGB").convert("CMYK"), "JPEG", quality=95), "seven.jpg",
     "CMYK", ()),
    ("LA, ink only in alpha", lambda: encoded(grey_ink_in_alpha(), "PNG"), "seven.png", "LA", ()),
    ("RGBA, black pen on transparent", lambda: encoded(stroke_image(SEVEN, ink=(0, 0, 0, 255),
                                                                    background=(0, 0, 0, 0)), "PNG"),
     "seven.png", "RGBA", ()),
    ("black and white tiff", lambda: encoded(on_paper().convert("1", dither=Image.Dither.NONE), "TIFF"),
     "seven.tiff", "1", ()),
    ("animated gif", lambda: frames("GIF", duration=100), "seven.gif", "P", (ANIMATED,)),
    ("animated png", lambda: frames("PNG", duration=100), "seven.png", "RGB", (ANIMATED,)),
    ("animated webp", lambda: frames("WEBP", duration=100), "seven.webp", "RGBA", (ANIMATED,)),
    ("multipage tiff", lambda: frames("TIFF"), "seven.tif", "RGB",
     ("This TIFF file holds several pages: only the first one is used.",)),
    ("phone's multi-picture jpeg", lambda: frames("MPO"), "seven.jpg", "RGB", ()),
    ("exif turned 90 cw", lambda: sideways(6), "seven.jpg", "RGB", (UPRIGHT,)),
    ("exif turned 90 ccw", lambda: sideways(8), "seven.jpg", "RGB", (UPRIGHT,)),
    ("exif upside down", lambda: sideways(3), "seven.jpg", "RGB", (UPRIGHT,)),
    ("jpeg named .png", lambda: encoded(on_paper(mode="RGB"), "JPEG", quality=90), "seven.png", "RGB",
     ("The file's name says .png but it is a JPEG; read as JPEG.",)),
    ("png named .JPG", lambda: encoded(on_paper(), "PNG"), "seven.JPG", "L",
     ("The file's name says .jpg but it is a PNG; read as PNG.",)),
    ("no name", lambda: encoded(on_paper(), "PNG"), "", "L", ()),
    ("photo of ink on paper", photo, "photo.jpg", "L", ()),
    ("24 megapixel jpeg", lambda: huge(6000, 4000, "JPEG", quality=80), "big.jpg", "L", ()),
    ("16 megapixel png", lambda: huge(4000, 4000, "PNG", compress_level=1), "big.png", "L", ()),
]


@pytest.mark.parametrize("make, name, mode, notes", [case[1:] for case in READABLE],
                         ids=[case[0] for case in READABLE])
def test_every_accepted_file_gives_the_digit_upright_with_plain_notes(make, name, mode, notes):
    data = make()
    with Image.open(io.BytesIO(data)) as original:
        assert original.mode == mode  # the case builds the file it claims to
    start = time.perf_counter()
    upload = read_upload(data, name)
    assert time.perf_counter() - start < 2.0
    assert upload.notes == notes
    assert upload.image.mode in ("L", "LA", "RGB", "RGBA") and max(upload.image.size) <= WORK_SIDE
    assert np.abs(canvas_to_mnist(upload.image).image - REFERENCE).mean() < 0.03


def test_a_one_pixel_image_reads_as_empty():
    upload = read_upload(encoded(Image.new("RGB", (1, 1), "white"), "PNG"), "dot.png")
    assert upload.image.size == (1, 1) and canvas_to_mnist(upload.image).empty


def png_claiming(width: int, height: int) -> bytes:
    """A grey PNG whose header claims ``width`` x ``height`` but whose pixel data would not decode:
    refused for its size, it was refused before decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1000)))
            + chunk(b"IEND", b""))


def cut(make, fraction: float):
    return lambda: (data := make())[:round(len(data) * fraction)]


def png() -> bytes:
    return encoded(on_paper(mode="RGB"), "PNG")


def jpeg(**params) -> bytes:
    return encoded(on_paper(mode="RGB"), "JPEG", quality=90, **params)


DAMAGED = "damaged or cut short"
NOT_IMAGE = "not a readable image"
REFUSED = [
    ("empty", lambda: b"", "seven.png", "The file is empty."),
    ("over 10 MB", lambda: png() + bytes(MAX_UPLOAD_BYTES), "seven.png", "at most 10 MB"),
    ("text named .png", lambda: b"Dear teacher, my digit is a 7.\n" * 20, "seven.png", NOT_IMAGE),
    ("html named .jpg", lambda: b"<!doctype html><html><body>404</body></html>", "seven.jpg", NOT_IMAGE),
    ("random bytes", lambda: np.random.default_rng(0).bytes(5000), "seven.png", NOT_IMAGE),
    ("pdf", lambda: encoded(on_paper(), "PDF"), "seven.png", NOT_IMAGE),
    ("png header only", cut(png, 0.01), "seven.png", DAMAGED),
    ("png cut at 10%", cut(png, 0.1), "seven.png", DAMAGED),
    ("png cut at half", cut(png, 0.5), "seven.png", DAMAGED),
    ("png cut at 95%", cut(png, 0.95), "seven.png", DAMAGED),
    ("jpeg cut at 10%", cut(jpeg, 0.1), "seven.jpg", DAMAGED),
    ("jpeg cut at half", cut(jpeg, 0.5), "seven.jpg", DAMAGED),
    ("jpeg cut at 95%", cut(jpeg, 0.95), "seven.jpg", DAMAGED),
    ("jpeg missing its last bytes", lambda: jpeg()[:-3], "seven.jpg", DAMAGED),
    ("progressive jpeg cut at half", cut(lambda: jpeg(progressive=True), 0.5), "seven.jpg", DAMAGED),
    ("png with a damaged chunk", lambda: (data := png())[:60] + bytes(40) + data[100:], "seven.png", DAMAGED),
    ("30000x30000 png bomb", lambda: png_claiming(30000, 30000), "bomb.png", "at most 40,000,000 pixels"),
    ("10000x10000 png, PIL warns", lambda: png_claiming(10000, 10000), "big.png",
     r"10000x10000 pixels; at most 40,000,000"),
    ("7000x7000 png", lambda: png_claiming(7000, 7000), "big.png", r"7000x7000 pixels; at most 40,000,000"),
    ("ico", lambda: encoded(on_paper(), "ICO"), "seven.ico", "in ICO format, which is not accepted"),
    ("ppm", lambda: encoded(on_paper(), "PPM"), "seven.png", "in PPM format, which is not accepted"),
    ("tga", lambda: encoded(on_paper(), "TGA"), "seven.png", "in TGA format, which is not accepted"),
    ("pcx", lambda: encoded(on_paper(), "PCX"), "seven.png", "in PCX format, which is not accepted"),
    ("jpeg 2000", lambda: encoded(on_paper(), "JPEG2000"), "seven.jp2", "in JPEG2000 format, which is not accepted"),
]


@pytest.mark.parametrize("make, name, message", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_bad_files_are_refused_fast_saying_what_is_wrong_and_what_is_accepted(make, name, message):
    data = make()
    start = time.perf_counter()
    with pytest.raises(ImageError, match=message) as refused:
        read_upload(data, name)
    assert time.perf_counter() - start < 0.5
    text = str(refused.value)
    assert "PNG, JPEG" in text or "MB" in text or "pixels" in text, text


@pytest.mark.parametrize("fmt, params", [
    ("PNG", {}), ("JPEG", {}), ("JPEG", {"progressive": True}), ("GIF", {}), ("BMP", {}), ("WEBP", {}),
    ("TIFF", {}), ("TIFF", {"compression": "tiff_lzw"}),
], ids=["png", "jpeg", "progressive jpeg", "gif", "bmp", "webp", "tiff", "lzw tiff"])
def test_a_file_cut_anywhere_is_refused_or_read_whole_never_half(fmt, params):
    noise = np.random.default_rng(1).integers(0, 60, (24, 24, 3))
    img = Image.fromarray(np.clip(np.asarray(on_paper(mode="RGB", size=24, width=3)) - noise, 0, 255).astype(np.uint8))
    data = encoded(img if fmt != "GIF" else img.convert("P"), fmt, **params)
    whole = np.asarray(read_upload(data).image)
    read = 0
    for end in range(len(data)):
        try:
            upload = read_upload(data[:end])
        except ImageError:
            continue
        read += 1
        np.testing.assert_array_equal(np.asarray(upload.image), whole, err_msg=f"cut at {end} of {len(data)}")
    assert read <= 24  # only cuts in the trailer (PNG's end chunk, GIF's terminator) can be read


def test_truncated_files_are_not_loaded_halfway_by_any_library_we_import():
    import streamlit  # noqa: F401  (any of these could switch PIL's global on)

    import mnist_model.engine.inference  # noqa: F401
    import mnist_model.figures.common  # noqa: F401

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_reading_refuses_to_run_when_pil_would_load_truncated_files(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        read_upload(encoded(on_paper(), "PNG"))


def test_the_uploader_offers_exactly_the_accepted_formats():
    assert UPLOAD_TYPES == ("png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff")
    readable = {Image.registered_extensions()[f".{ext}"] for ext in UPLOAD_TYPES}
    assert readable == {"PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"}


def test_load_image_reads_paths_and_file_objects_like_an_upload(tmp_path):
    path = tmp_path / "seven.jpg"
    path.write_bytes(sideways(6))
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
        assert np.abs(canvas_to_mnist(load_image(source)).image - REFERENCE).mean() < 0.03
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path)
