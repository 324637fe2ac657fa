import io
import re

import numpy as np
import pytest
from browser_support import UNIPEN, load_unipen, pick_digits, render_strokes, stroke_paths
from conftest import stroke_image
from PIL import Image

from mnist_model.engine.preprocess import (
    CENTRE,
    MAX_CANVAS_OBJECTS,
    MAX_CANVAS_SIDE,
    PNG_SIGNATURE,
    ImageError,
    bounded_canvas_objects,
    canvas_to_mnist,
    centre_of_mass,
    decode_canvas,
    doubts,
    load_image,
    png_size,
    read_upload,
)

SEVEN = [(60, 50), (220, 50), (120, 250)]
CANVAS = 320  # the app's drawing canvas, white strokes on opaque black
MOSTLY = "Most of the canvas is ink: draw one digit with the pen, not a filled area."
SEVERAL = "This looks like several marks side by side; the network reads one digit at a time."
DOT = "That is only a dot: draw a whole digit, as large as the canvas allows."
EDGES = "The ink touches two opposite edges of the canvas: keep one digit inside the canvas, away from its border."


def test_centre_of_mass_lands_at_mnists_centre():
    prep = canvas_to_mnist(stroke_image(SEVEN))
    assert prep.image.shape == (28, 28) and prep.image.dtype == np.float32
    row, col = centre_of_mass(prep.image)
    assert abs(row - CENTRE) <= 0.5 and abs(col - CENTRE) <= 0.5


def test_longer_side_is_fitted_to_20_keeping_the_aspect_ratio():
    tall = canvas_to_mnist(stroke_image([(140, 40), (140, 240)], width=20))  # 20 x ~220 px
    assert tall.fitted.shape[0] == 20 and tall.fitted.shape[1] <= 3
    wide = canvas_to_mnist(stroke_image([(30, 140), (250, 140)], width=40))
    assert wide.fitted.shape[1] == 20 and 3 <= wide.fitted.shape[0] <= 5


@pytest.mark.parametrize("image", [
    np.zeros((280, 280, 4), np.uint8),
    np.full((280, 280, 4), 255, np.uint8),
    np.zeros((28, 28), np.float32),
    stroke_image([(100, 100), (101, 100)], width=2),  # a speck
], ids=["transparent", "white", "black 28x28", "speck"])
def test_empty_or_near_empty_inputs_give_no_digit(image):
    prep = canvas_to_mnist(image)
    assert prep.empty and prep.image is None


def test_a_single_dot_and_strokes_touching_the_edges_still_work():
    dot = canvas_to_mnist(stroke_image([(140, 140), (141, 141)], width=30))
    assert not dot.empty and dot.image.max() == pytest.approx(1.0)
    edge = canvas_to_mnist(stroke_image([(0, 0), (279, 279)], width=20))
    assert edge.box[0] == 0 and edge.box[3] == 280 and not edge.empty


@pytest.mark.parametrize("size, width", [(2000, 150), (280, 4), (40, 3)], ids=["huge", "thin", "tiny"])
def test_any_size_gives_a_28x28_digit_filling_the_20px_box(size, width):
    pts = [(size * 0.3, size * 0.2), (size * 0.7, size * 0.2), (size * 0.45, size * 0.85)]
    prep = canvas_to_mnist(stroke_image(pts, size=size, width=width))
    assert prep.image.shape == (28, 28) and max(prep.fitted.shape) == 20


def _in_mode(mode: str) -> Image.Image:
    base = stroke_image(SEVEN, mode="L", ink=(255,) * 4, background=(0,) * 4)
    if mode == "I;16":
        return Image.fromarray(np.asarray(base).astype(np.uint16) * 257)
    return base.convert(mode)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "I", "F", "LA", "CMYK"])
def test_every_image_mode_gives_the_same_result(mode):
    reference = canvas_to_mnist(_in_mode("L")).image
    np.testing.assert_allclose(canvas_to_mnist(_in_mode(mode)).image, reference, atol=1e-5)


def test_dark_on_light_and_alpha_only_strokes_match_white_on_black():
    reference = canvas_to_mnist(stroke_image(SEVEN)).image
    paper = stroke_image(SEVEN, mode="RGB", ink=(20, 20, 20), background=(250, 250, 245))
    transparent_black_pen = stroke_image(SEVEN, ink=(0, 0, 0, 255), background=(0, 0, 0, 0))
    for variant in (paper, transparent_black_pen):
        assert np.abs(canvas_to_mnist(variant).image - reference).max() < 0.1


def test_an_mnist_digit_passes_through_almost_unchanged(mnist):
    x = mnist[1][0][:20, ..., 0]
    diffs = [np.abs(canvas_to_mnist(img).image - img).mean() for img in x]
    assert np.median(diffs) < 0.03


def test_load_image_reads_png_bytes_and_refuses_junk(tmp_path):
    buf = io.BytesIO()
    stroke_image(SEVEN).save(buf, format="PNG")
    assert load_image(buf.getvalue()).size == (280, 280)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"definitely not a png")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(junk)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(buf.getvalue()[:200])
    with pytest.raises(ImageError, match="damaged or cut short"):
        load_image(truncated)
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "nope.png")


def test_a_photo_with_uneven_light_and_noise_crops_to_the_digit_only():
    pts = [(300, 200), (700, 200), (450, 850)]
    paper = np.asarray(stroke_image(pts, size=1000, width=60, mode="L", ink=(40,) * 4, background=(200,) * 4))
    light = np.linspace(-40, 40, 1000)[None, :] + np.random.default_rng(0).normal(0, 8, (1000, 1000))
    photo = np.clip(paper + light, 0, 255).astype(np.uint8)
    clean = canvas_to_mnist(stroke_image(pts, size=1000, width=60))
    prep = canvas_to_mnist(photo)
    assert prep.box == clean.box
    assert np.abs(prep.image - clean.image).mean() < 0.01


def test_large_photos_are_shrunk_on_load_with_the_same_result(tmp_path):
    pts = [(1200, 800), (2800, 800), (1800, 3400)]
    big = stroke_image(pts, size=4000, width=240).convert("RGB")
    path = tmp_path / "big.jpg"
    big.save(path, quality=92)
    loaded = load_image(path)
    assert max(loaded.size) <= 1024
    assert np.abs(canvas_to_mnist(loaded).image - canvas_to_mnist(big).image).mean() < 0.02


def canvas(*strokes, pen: int = 18) -> np.ndarray:
    """The drawing canvas as the page gets it: RGBA, round-capped white strokes on black."""
    return np.asarray(render_strokes(list(strokes), CANVAS, width=pen))


def click(x: float, y: float, pen: int) -> np.ndarray:
    """A single click with the pen, as the browser draws it."""
    return canvas([(x, y), (x + 1, y + 1)], pen=pen)


def scribble(seed: int, points: int = 40) -> np.ndarray:
    return canvas(np.random.default_rng(seed).uniform(20, 300, (points, 2)).tolist(), pen=18)


def zigzag(pen: int, pitch: float) -> np.ndarray:
    """Back and forth across the whole canvas, as a student paints it."""
    return canvas([(10 + 300 * (k % 2), y) for k, y in enumerate(np.arange(10, CANVAS, pitch))], pen=pen)


TRANSPARENT_WHITE = np.zeros((CANVAS, CANVAS, 4), np.uint8)
TRANSPARENT_WHITE[..., :3] = 255
WHITE = np.full((CANVAS, CANVAS, 4), 255, np.uint8)
CANVAS_CASES = [  # id, canvas, drawn on the canvas (white ink known), empty, doubts
    ("all zero", np.zeros((CANVAS, CANVAS, 4), np.uint8), True, True, ()),
    ("all transparent, white underneath", TRANSPARENT_WHITE, True, True, ()),
    ("all transparent, guessed", TRANSPARENT_WHITE, False, True, ()),
    ("untouched black", canvas(), True, True, ()),
    ("a click with the thinnest pen is a speck", click(160, 160, pen=6), True, True, ()),
    ("a click with the default pen", click(160, 160, pen=18), True, False, (DOT,)),
    ("a click with the widest pen", click(100, 220, pen=40), True, False, (DOT,)),
    ("stroke along the top border", canvas([(5, 6), (315, 6)]), True, False, (EDGES,)),
    ("stroke along the left border", canvas([(6, 5), (6, 315)]), True, False, (EDGES,)),
    ("corner to corner", canvas([(0, 0), (319, 319)]), True, False, (EDGES,)),
    ("whole canvas painted white", WHITE, True, False, (MOSTLY,)),
    ("whole canvas painted white, guessed", WHITE, False, True, ()),  # flat: no paper, no ink to tell
    ("half painted", zigzag(pen=18, pitch=30), True, False, (MOSTLY,)),
    ("nearly all painted", zigzag(pen=40, pitch=15), True, False, (MOSTLY,)),
    ("1 2 3 side by side", canvas([(60, 100), (60, 220)], [(110, 120), (150, 95), (180, 130), (115, 215),
                                                            (185, 215)],
                                  [(225, 100), (275, 110), (245, 155), (280, 185), (230, 220)]), True, False,
     (SEVERAL,)),
    ("two ones", canvas([(120, 80), (120, 240)], [(200, 80), (200, 240)]), True, False, (SEVERAL,)),
    ("7 and an equals sign", canvas([(60, 100), (160, 100), (100, 230)], [(200, 150), (270, 150)],
                                    [(200, 180), (270, 180)]), True, False, (SEVERAL,)),
    ("5 with its top bar lifted", canvas([(130, 70), (122, 160), (190, 150), (215, 200), (195, 255), (120, 262)],
                                         [(145, 66), (225, 62)]), True, False, ()),
    ("4 in two strokes", canvas([(175, 60), (100, 195), (235, 195)], [(195, 110), (195, 275)]), True, False, ()),
    ("4 with its stem apart", canvas([(150, 60), (110, 190), (205, 190)], [(215, 80), (215, 275)]), True, False, ()),
    ("7 with a crossbar", canvas([(90, 70), (230, 70), (140, 270)], [(130, 170), (210, 170)]), True, False, ()),
    ("1 with flag and foot", canvas([(125, 100), (165, 60), (165, 260)], [(125, 262), (205, 262)]), True, False, ()),
    ("1 with a dot on top, like an i", canvas([(160, 45), (161, 46)], [(160, 95), (160, 265)]), True, False, ()),
    ("0 left open", canvas([(170, 60), (110, 100), (105, 200), (160, 265), (215, 200), (212, 100), (185, 70)]),
     True, False, ()),
    ("small 7, thin pen", canvas([(140, 140), (200, 140), (165, 205)], pen=6), True, False, ()),
]


@pytest.mark.parametrize("image, light_ink, empty, expected", [case[1:] for case in CANVAS_CASES],
                         ids=[case[0] for case in CANVAS_CASES])
def test_canvas_cases_give_a_digit_or_nothing_and_the_right_doubts(image, light_ink, empty, expected):
    prep = canvas_to_mnist(image, light_ink=light_ink)
    assert prep.empty == empty
    assert empty or (prep.image.shape == (28, 28) and prep.image.max() == pytest.approx(1.0))
    assert doubts(prep) == expected


def test_the_guess_reads_a_canvas_painted_mostly_white_as_a_negative_yet_still_doubts_it():
    painted = zigzag(pen=40, pitch=15)
    guessed = canvas_to_mnist(painted)
    assert (guessed.ink > 0.5).mean() < 0.1  # the unpainted specks became the ink
    assert doubts(guessed)  # a line of doubt all the same, though a vaguer one than MOSTLY


@pytest.mark.parametrize("seed", range(5))
def test_a_random_scribble_goes_through(seed):
    prep = canvas_to_mnist(scribble(seed), light_ink=True)
    assert prep.image.shape == (28, 28) and np.isfinite(prep.image).all()
    assert set(doubts(prep)) <= {MOSTLY, SEVERAL, DOT, EDGES}


def test_mnist_test_digits_raise_almost_no_doubts(mnist):
    x = mnist[1][0][:2000, ..., 0]
    doubted = sum(bool(doubts(canvas_to_mnist(img))) for img in x)
    assert doubted / len(x) < 0.01


@pytest.mark.skipif(not UNIPEN.exists(), reason=f"real pen strokes not found at {UNIPEN}")
def test_real_pen_digits_raise_almost_no_doubts():
    """300 digits written by real people, drawn on the canvas across the page's pen widths."""
    digits = pick_digits(load_unipen(), 300)
    counts = dict.fromkeys((MOSTLY, SEVERAL, DOT, EDGES), 0)
    for i, sample in enumerate(digits):
        image = canvas(*stroke_paths(sample, CANVAS, seed=i), pen=(6, 12, 18, 30, 40)[i % 5])
        for doubt in doubts(canvas_to_mnist(image, light_ink=i % 2 == 0)):
            counts[doubt] += 1
    rates = {doubt[:30]: n / len(digits) for doubt, n in counts.items()}
    assert all(rate < 0.02 for rate in rates.values()), rates


# ---------------------------------------------------------------- images bounded before decoding

def png_file(width: int, height: int) -> bytes:
    """A valid black RGBA PNG of any size, built row by row: a 9000x9000 one is ~300 kB and never in memory."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer, row, parts = zlib.compressobj(9), bytes(1 + 4 * width), []
    for _ in range(height):
        parts.append(packer.compress(row))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def data_url(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode()


def canvas_png(size=320) -> bytes:
    out = io.BytesIO()
    stroke_image(SEVEN, size=size).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("size", [(1, 1), (320, 320), (1280, 640), (9000, 9000), (2**31 - 1, 3)])
def test_png_size_reads_the_declared_size_from_the_header_alone(size):
    header = png_file(1, 1)[:33]  # signature and IHDR: nothing to decode
    forged = header[:16] + size[0].to_bytes(4, "big") + size[1].to_bytes(4, "big") + header[24:]
    assert png_size(forged) == size
    if size == (320, 320):
        assert png_size(canvas_png()) == (320, 320)


@pytest.mark.parametrize("data, message", [
    (b"", "not a PNG"),
    (b"GIF89a" + bytes(40), "not a PNG"),
    ("not bytes", "not a PNG"),
    (PNG_SIGNATURE + bytes(8), "cut short"),
    (PNG_SIGNATURE + b"\x00\x00\x00\x0dIDAT" + bytes(13), "cut short"),
    (PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR" + bytes(8), "impossible size, 0x0"),
    (PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR" + b"\xff" * 8, "impossible size"),
])
def test_png_size_refuses_what_is_not_a_png_header(data, message):
    with pytest.raises(ImageError, match=message):
        png_size(data)


def test_a_normal_canvas_picture_is_decoded_as_the_canvas_library_would():
    image = decode_canvas(data_url(canvas_png()))
    assert image.shape == (320, 320, 4) and image.dtype == np.uint8
    assert np.array_equal(image, np.asarray(stroke_image(SEVEN, size=320)))
    assert decode_canvas(None) is None
    assert decode_canvas(data_url(png_file(MAX_CANVAS_SIDE, MAX_CANVAS_SIDE))).shape == (1280, 1280, 4)  # DPR 4


def test_a_forged_huge_canvas_picture_is_refused_unread_with_little_memory():
    import tracemalloc

    forged = data_url(png_file(9000, 9000))  # 324 MB of pixels; decoding it cost the server +2.8 GB
    assert len(forged) < 1_000_000
    tracemalloc.start()
    with pytest.raises(ImageError, match="9000x9000 pixels, larger than the canvas can be"):
        decode_canvas(forged)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100_000  # only the header was decoded


@pytest.mark.parametrize("url, message", [
    ("data:image/jpeg;base64,/9j/4AAQ", "did not arrive as a PNG"),
    (12345, "did not arrive as a PNG"),
    ("data:image/png;base64," + "A" * (6 * 2**20), "more than 4 MB"),
    ("data:image/png;base64,!!!!" + "A" * 60, "garbled"),
    ("data:image/png;base64,R0lGODlhAQABAAAAACw=", "not a PNG"),
])
def test_a_canvas_message_that_is_not_a_sane_png_is_refused_with_a_sentence(url, message):
    with pytest.raises(ImageError, match=message):
        decode_canvas(url)


def png_chunk(kind: bytes, body: bytes = b"") -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def with_chunks(png: bytes, *chunks: bytes) -> bytes:
    """``png`` with ``chunks`` inserted right after its IHDR."""
    return png[:33] + b"".join(chunks) + png[33:]


def sixteen_bit_png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.zeros((320, 320), np.uint16)).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.zeros((320, 320, 3), np.uint8)).save(out, format="JPEG")
    return out.getvalue()


FLOOD = "over 1024 pieces, or over 64 pieces (64 KB) that are not part of the picture"


@pytest.mark.parametrize("png, message", [
    (with_chunks(canvas_png(), *[png_chunk(b"tEXt", b"k\x00v")] * 200_000), FLOOD),  # 0.46 s to decode, once
    (with_chunks(canvas_png(), *[png_chunk(b"zzZz")] * 300_000), FLOOD),  # empty private chunks: 0.7 s
    (with_chunks(canvas_png(), *[png_chunk(b"IDAT")] * 300_000), FLOOD),  # empty image data, just as slow
    (with_chunks(canvas_png(), *[png_chunk(b"tEXt", b"k\x00v")] * 65), FLOOD),
    (with_chunks(canvas_png(), png_chunk(b"iTXt", bytes(65 * 2**10))), FLOOD),  # one large chunk that is not image
    (sixteen_bit_png(), "a PNG of 16 bits per channel; the canvas sends 8"),
    (jpeg_bytes(), "not a PNG file (it does not start with the PNG signature); it is a JPEG picture"),
    (b"GIF89a" + bytes(60), "it is a GIF picture"),
    (canvas_png()[:33] + png_chunk(b"IDAT", bytes(10))[:-6], "arrived damaged"),  # no IEND: cut short
    (canvas_png()[:30], "arrived damaged"),
])
def test_a_canvas_png_costlier_than_its_size_says_is_refused_before_decoding(monkeypatch, png, message):
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(ImageError, match=re.escape(message)):
        decode_canvas(data_url(png))


def test_a_few_ordinary_chunks_that_are_not_image_data_are_fine():
    png = with_chunks(canvas_png(), png_chunk(b"sRGB", b"\x00"), png_chunk(b"tEXt", b"Software\x00a browser"))
    assert np.array_equal(decode_canvas(data_url(png)), decode_canvas(data_url(canvas_png())))


UPLOAD_FLOOD = "The PNG file is made of over 4,096 pieces, or over 256 pieces (2 MB) that are not part of the picture"


@pytest.mark.parametrize("png", [
    with_chunks(canvas_png(), *[png_chunk(b"tEXt", b"k\x00v")] * 300_000),  # PIL reads each as it opens the file
    with_chunks(canvas_png(), *[png_chunk(b"IDAT")] * 5_000),
    with_chunks(canvas_png(), *[png_chunk(b"zTXt", bytes(2**16))] * 40),
], ids=["text flood", "empty image data", "2.5 MB of text"])
def test_a_png_upload_made_of_a_flood_of_chunks_is_refused_before_pil_opens_it(monkeypatch, png):
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("opened"))
    with pytest.raises(ImageError, match=re.escape(UPLOAD_FLOOD)):
        read_upload(png, "digit.png")


def test_a_png_upload_with_a_profile_and_some_text_is_read():
    png = with_chunks(canvas_png(), png_chunk(b"iCCP", bytes(3000)), *[png_chunk(b"tEXt", b"k\x00v")] * 20)
    assert read_upload(png, "digit.png").image.size == read_upload(canvas_png(), "digit.png").image.size


def test_a_canvas_png_cut_after_its_header_is_damaged_not_a_crash():
    with pytest.raises(ImageError, match="arrived damaged"):
        decode_canvas(data_url(canvas_png()[:200]))


def test_the_strokes_kept_to_redraw_a_drawing_are_bounded():
    stroke = {"type": "path", "path": [["M", 1, 2], ["Q", 3, 4, 5, 6]]}
    assert bounded_canvas_objects([stroke] * 4) == [stroke] * 4
    assert bounded_canvas_objects([]) == []
    assert bounded_canvas_objects([stroke] * (MAX_CANVAS_OBJECTS + 1)) == []  # absurdly many
    huge = {"type": "path", "path": [["L", 1.5, 2.5]] * 200_000}  # one absurdly long stroke
    assert bounded_canvas_objects([huge]) == []
    assert bounded_canvas_objects("objects") == [] and bounded_canvas_objects([1, 2]) == []
