"""What a student made survives every page; models can be uploaded, renamed and deleted."""

import time

import keras
import pytest
from conftest import stroke_image
from model_zoo import prepare_quickly, small_mnist
from PIL import ImageDraw
from test_app import APP, ONE, SEVEN, TIMEOUT, drawing, markdown_text, png_bytes

from mnist_model.engine.storage import PRETRAINED_MODEL, save_model

PAGES = ["views/feature_maps.py", "views/filters.py", "views/architecture.py"]
STROKES = [{"type": "path", "path": [["M", 150, 40], ["L", 140, 250]], "stroke": "#FFFFFF"}]


def drawn(image, objects=STROKES) -> dict:
    state = drawing(image)
    state["drawing"]["raw"]["objects"] = objects
    return state


def kept(at, name):
    return at.session_state["kept_inputs"][name]


@pytest.mark.parametrize("page", PAGES)
def test_the_drawing_survives_a_visit_to_another_page(app, page):
    app.session_state["canvas"] = drawn(ONE)
    app.run()
    assert "# Prediction: 1" in markdown_text(app)
    app.switch_page(page).run()
    assert not app.exception
    assert "canvas" not in app.session_state  # Streamlit dropped the widget: our copy must hold
    app.switch_page("views/draw.py").run()
    assert not app.exception
    assert "# Prediction: 1" in markdown_text(app)
    assert kept(app, "canvas_initial")["objects"] == STROKES  # the canvas gets its strokes back
    app.switch_page("views/feature_maps.py").run()
    assert "Input: drawing" in app.caption[0].value and "predicted **1**" in app.caption[0].value


def test_a_new_stroke_after_coming_back_replaces_the_kept_drawing(app):
    app.session_state["canvas"] = drawn(ONE)
    app.run()
    app.switch_page("views/architecture.py").run()
    app.switch_page("views/draw.py").run()
    app.session_state["canvas"] = drawn(SEVEN, STROKES * 2)
    app.run()
    assert "# Prediction: 7" in markdown_text(app)
    assert kept(app, "drawing_objects") == STROKES * 2


def test_clear_forgets_the_drawing_everywhere(app):
    app.session_state["canvas"] = drawn(ONE)
    app.run()
    app.button(key="clear_canvas").click().run()
    app.switch_page("views/feature_maps.py").run()
    assert "Nothing drawn yet" in app.info[0].value
    app.switch_page("views/draw.py").run()
    assert "Prediction:" not in markdown_text(app)
    assert kept(app, "canvas_initial")["objects"] == []


def test_input_source_pen_width_and_upload_survive_navigation(app):
    app.slider(key="pen_width").set_value(30).run()
    app.segmented_control(key="input_source").set_value("Upload").run()
    app.file_uploader[0].upload("seven.png", png_bytes(SEVEN), "image/png").run()
    assert "# Prediction: 7" in markdown_text(app)
    app.switch_page("views/filters.py").run()
    app.switch_page("views/draw.py").run()
    assert not app.exception
    assert app.segmented_control(key="input_source").value == "Upload"
    assert "# Prediction: 7" in markdown_text(app)  # the upload is still there
    app.segmented_control(key="input_source").set_value("Draw").run()
    assert app.slider(key="pen_width").value == 30


def test_switching_to_a_test_digit_and_back_keeps_the_drawing(app):
    app.session_state["canvas"] = drawn(ONE)
    app.run()
    app.segmented_control(key="input_source").set_value("Test digit").run()
    app.segmented_control(key="input_source").set_value("Draw").run()
    assert "# Prediction: 1" in markdown_text(app)


def canvas(*strokes, width=18):
    """A 320x320 canvas with several strokes, white on black."""
    image = stroke_image(strokes[0], size=320, width=width)
    draw = ImageDraw.Draw(image)
    for points in strokes[1:]:
        draw.line(points, fill=(255, 255, 255, 255), width=width, joint="curve")
    return image


@pytest.mark.parametrize("name, image", [
    ("a single dot", canvas([(160, 160), (161, 160)], width=6)),
    ("a stroke along the border", canvas([(2, 2), (317, 2)], width=6)),
    ("the whole canvas painted", canvas([(0, 160), (319, 160)], width=400)),
    ("several digits", canvas([(40, 60), (40, 260)], [(120, 60), (200, 60), (140, 260)],
                              [(240, 60), (300, 60), (300, 260)])),
    ("a scribble", canvas([(20, 30), (300, 280), (30, 290), (290, 20), (160, 310), (10, 150), (310, 170)])),
])
def test_odd_drawings_never_break_the_page_and_doubts_are_said_plainly(app, name, image):
    app.session_state["canvas"] = drawn(image)
    app.run()
    assert not app.exception, name
    text = markdown_text(app) + " ".join(w.value for w in app.warning) + " ".join(i.value for i in app.info)
    assert "Prediction:" in text or "draw" in text.lower()
    if "Prediction:" in text and name != "a stroke along the border":
        assert app.warning, f"{name}: a doubtful drawing must say so"


def test_an_uninitialised_canvas_predicts_nothing(app):
    app.session_state["canvas"] = {"drawing": {"raw": {"objects": []}, "data": None}}
    app.run()
    assert not app.exception and "Prediction:" not in markdown_text(app)


def tiny_model() -> keras.Model:
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])


def keras_bytes(tmp_path, model=None) -> bytes:
    path = save_model(model or tiny_model(), tmp_path / "upload-src" / "m.keras")
    return path.read_bytes()


def test_an_uploaded_model_is_checked_prepared_then_selected_and_carded(app, tmp_path, monkeypatch):
    from server import resources

    monkeypatch.setenv("MNIST_NPZ", str(small_mnist()))  # read by the preparation's worker
    before = app.session_state["model_path"]
    app.sidebar.file_uploader(key="model_upload").upload("<b>my</b> model.keras", keras_bytes(tmp_path),
                                                           "application/zip")
    app.run()
    assert not app.exception and app.session_state["model_path"] == before  # not offered before it is ready
    said = [m.value for m in [*app.sidebar.info, *app.sidebar.warning, *app.sidebar.error]]
    assert any("Checking" in m for m in said), said
    deadline = time.monotonic() + 180
    while resources.preparer().active() and time.monotonic() < deadline:
        time.sleep(0.5)
    app.run()
    assert not app.exception
    active = app.session_state["model_path"]
    assert active.endswith("/b-my-b model.keras") and "b-my-b model" in app.sidebar.selectbox(key="model_path").options
    assert any("now your active model" in s.value for s in app.sidebar.success)
    assert "Uploaded" in " ".join(c.value for c in app.sidebar.caption)


@pytest.mark.parametrize("name, data, says", [
    ("empty.keras", b"", "empty"),
    ("text.keras", b"not a zip at all", "zip"),
    ("../../evil.keras", b"PK\x03\x04 broken", "damaged"),
])
def test_a_bad_model_upload_is_explained_and_the_active_model_stays(app, name, data, says):
    before = app.session_state["model_path"]
    app.sidebar.file_uploader(key="model_upload").upload(name, data, "application/zip")
    app.run()
    assert not app.exception
    assert app.session_state["model_path"] == before
    errors = " ".join(e.value for e in app.sidebar.error)
    assert "was not added" in errors and says in errors.lower(), errors


def test_rename_is_followed_by_other_sessions_and_delete_is_said(app, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from server import resources

    model = save_model(tiny_model(), resources.models_dir() / "mine.keras", {"recipe": "seed"})
    prepare_quickly(model)
    resources.forget_models()
    other = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    for at in (app, other):
        at.run()
        at.sidebar.selectbox(key="model_path").set_value(str(model)).run()
    app.sidebar.text_input(key="rename_to").set_value("renamed").run()
    app.sidebar.button(key="rename_model").click().run()
    assert app.session_state["model_path"].endswith("renamed.keras")
    other.run()
    assert other.session_state["model_path"].endswith("renamed.keras")  # followed, not reset
    assert any("renamed to" in i.value for i in other.sidebar.info)
    app.sidebar.button(key="delete_model").click().run()
    assert app.session_state["model_path"] == str(PRETRAINED_MODEL)
    other.run()
    assert other.session_state["model_path"] == str(PRETRAINED_MODEL)
    assert any("was deleted" in w.value for w in other.sidebar.warning)
    assert not list(resources.models_dir().glob("renamed*"))


def test_the_bundled_model_offers_no_rename_or_delete(app):
    assert app.session_state["model_path"] == str(PRETRAINED_MODEL)
    with pytest.raises(KeyError):
        app.sidebar.button(key="delete_model")
