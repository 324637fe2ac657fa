import io

import numpy as np
import pytest
from browser_support import UNIPEN, load_unipen, pick_digits, render_strokes, stroke_paths
from conftest import stroke_image
from PIL import Image

from mnist_model.engine.preprocess import CENTRE, ImageError, canvas_to_mnist, centre_of_mass, doubts, load_image

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
