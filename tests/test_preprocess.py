import io

import numpy as np
import pytest
from conftest import stroke_image
from PIL import Image

from mnist_model.preprocess import CENTRE, ImageError, canvas_to_mnist, centre_of_mass, load_image

SEVEN = [(60, 50), (220, 50), (120, 250)]


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
    with pytest.raises(ImageError, match="damaged or truncated"):
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
