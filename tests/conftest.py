"""Shared fixtures: tiny data and tiny models keep the unit suite fast."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_zoo import prepare_quickly
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from mnist_model.engine.data import load_prepared
from mnist_model.engine.network import build_convnet


@pytest.fixture(scope="session")
def mnist():
    """The real prepared MNIST arrays (loaded once)."""
    return load_prepared()


@pytest.fixture(scope="session")
def tiny_data(mnist):
    """600 training and 200 test images."""
    (x_train, y_train), (x_test, y_test) = mnist
    return (x_train[:600], y_train[:600]), (x_test[:200], y_test[:200])


@pytest.fixture
def tiny_model():
    """The seed layout with few filters: same layers and names, a fraction of the weights."""
    return build_convnet((4, 8, 8), 16)


def stroke_image(points, size=280, width=20, mode="RGBA", ink=(255, 255, 255, 255),
                 background=(0, 0, 0, 255)) -> Image.Image:
    """A canvas-like image with one polyline stroke."""
    img = Image.new(mode, (size, size), background[: len(mode)] if mode != "L" else background[0])
    draw = ImageDraw.Draw(img)
    draw.line(points, fill=ink[: len(mode)] if mode != "L" else ink[0], width=width, joint="curve")
    return img


def page_with_model(page: str, model_path, monkeypatch, models=None) -> AppTest:
    """AppTest on ``page`` (e.g. "views/explain.py") with ``model_path`` picked in the sidebar.

    The models folder is ``models``, by default the model's own folder, so the picker lists it;
    the model is prepared first (quickly, see ``model_zoo.prepare_quickly``) unless it is bundled or was.
    """
    from mnist_model.engine.storage import PRETRAINED_DIR, is_ready, model_digest

    if Path(model_path).resolve().parent != PRETRAINED_DIR and not is_ready(model_path, model_digest(model_path)):
        prepare_quickly(Path(model_path))
    monkeypatch.setenv("CONVNET_LAB_MODELS", str(models or Path(model_path).parent))
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.session_state["model_path"] = str(model_path)
    at.switch_page(page).run()
    assert not at.exception
    return at


@pytest.fixture
def app(tmp_path, monkeypatch):
    from server import resources

    monkeypatch.setenv("CONVNET_LAB_MODELS", str(tmp_path))
    resources.training_job.clear()  # the job is per server: a fresh one per test, saving into tmp_path
    at = AppTest.from_file("../app.py", default_timeout=120)  # TensorFlow imports slowly
    at.run()
    assert not at.exception
    return at


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a module's browser tests (skipped without Playwright)."""
    from browser_support import launch_browser

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def app_url():
    """One app server on the bundled model for a module's browser tests: its URL."""
    from browser_support import running_app

    with running_app() as url:
        yield url
