"""Every page under AppTest: no exception, and a real value on the page."""

import base64
import io
import time

import pytest
from conftest import stroke_image
from model_zoo import small_mnist

APP = "../app.py"
TIMEOUT = 120  # TensorFlow imports slowly


def png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def drawing(image) -> dict:
    """What the canvas sends back after a stroke: its picture, and the stroke among its objects."""
    data = base64.b64encode(png_bytes(image)).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": f"data:image/png;base64,{data}"}}


ONE = stroke_image([(150, 40), (140, 250)], size=320, width=18)
SEVEN = stroke_image([(70, 60), (240, 60), (130, 270)], size=320, width=18)


def markdown_text(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_empty_canvas_invites_to_draw_and_predicts_nothing(app):
    assert "Prediction:" not in markdown_text(app)
    assert any("Draw a digit on the black canvas" in i.value for i in app.info)


def test_a_drawn_one_is_predicted_and_clear_empties_it(app):
    app.session_state["canvas"] = drawing(ONE)
    app.run()
    assert not app.exception
    assert "# Prediction: 1" in markdown_text(app)
    assert app.get_by_key("probabilities") is not None
    app.button(key="clear_canvas").click().run()
    assert "Prediction:" not in markdown_text(app)
    assert app.session_state["canvas"]["drawing"]["data"] is None


def test_a_test_digit_shows_its_true_label(app):
    app.session_state["test_index"] = 0  # MNIST test image #0 is a 7
    app.segmented_control(key="input_source").set_value("Test digit").run()
    assert not app.exception
    text = markdown_text(app)
    assert "# Prediction: 7" in text and "True label: **7**" in text


def test_uploads_are_predicted_and_bad_ones_explained(app):
    app.segmented_control(key="input_source").set_value("Upload").run()
    app.file_uploader[0].upload("seven.png", png_bytes(SEVEN.convert("L")), "image/png").run()
    assert not app.exception and "# Prediction: 7" in markdown_text(app)
    app.file_uploader[0].upload("broken.png", b"\x89PNG but not really", "image/png").run()
    assert not app.exception
    assert any("Could not read broken.png" in e.value for e in app.error)


def test_feature_maps_page_shows_every_layer_for_the_drawing(app):
    app.session_state["canvas"] = drawing(SEVEN)
    app.run()
    app.switch_page("views/feature_maps.py").run()
    assert not app.exception
    headings = [s.value for s in app.subheader]
    for shape in ("conv_1 · 26x26x32", "pool_1 · 13x13x32", "conv_2 · 11x11x64", "pool_2 · 5x5x64",
                  "conv_3 · 3x3x64", "flatten · 576", "dense · 64"):
        assert shape in headings
    assert len(app.get("plotly_chart")) == 10  # input, zoom, 5 grids, 2 strips, softmax
    assert "predicted **7**" in app.caption[0].value


def test_filters_page_shows_patterns_and_kernels(app):
    app.switch_page("views/filters.py").run()
    assert not app.exception
    assert len(app.get("plotly_chart")) == 4  # three pattern grids and the kernels
    said = " ".join(c.value for c in app.caption)
    assert "Filters 7 and 23 of conv_1 look nearly blank" in said and "Filter 4 of conv_1 is nearly all white" in said
    app.segmented_control(key="kernel_layer").set_value("conv_2").run()
    assert not app.exception and app.slider(key="kernel_filter_conv_2").max == 63


def test_architecture_page_shows_93322(app):
    app.switch_page("views/architecture.py").run()
    assert not app.exception
    assert app.metric[0].value == "93,322"
    assert "(3*3*1 + 1) * 32 = 320" in app.dataframe[0].value["How it is counted"].tolist()


def test_architecture_page_sets_the_notes_63_filters_beside_the_text(app):
    app.switch_page("views/architecture.py").run()
    assert not app.exception
    printed = app.dataframe[1].value.set_index("Layer")  # AppTest does not record a plain dataframe's key
    text = app.dataframe[2].value.set_index("Layer")
    assert (printed.loc["conv_3", "Param #"], printed.loc["dense", "Param #"]) == (36351, 36352)
    assert printed.loc["flatten", "Output shape"] == "567" and text.loc["flatten", "Output shape"] == "576"
    assert text["Param #"].sum() - printed["Param #"].sum() == 93322 - 92169


def test_training_from_the_sidebar_adds_a_selectable_model(app, monkeypatch):
    from server import resources

    monkeypatch.setattr(resources.training_job(), "train_limit", 300)
    monkeypatch.setenv("MNIST_NPZ", str(small_mnist()))  # the preparation's worker reads it too
    app.sidebar.slider(key="epochs_seed").set_value(1)
    app.sidebar.button(key="train").click().run()
    job = resources.training_job()
    deadline, stages = time.monotonic() + 300, set()
    while job.state().active and time.monotonic() < deadline:
        stages.add(job.state().stage)
        time.sleep(0.2)
    assert job.state().status == "done", job.state().message
    assert "preparing" in stages and "It is in the model picker." in job.state().message  # done means offered
    app.run()
    options = app.sidebar.selectbox(key="model_path").options
    assert len(options) == 3 and "seed-" in options[2]  # after the two bundled models
    app.sidebar.selectbox(key="model_path").select_index(2).run()
    assert not app.exception and app.session_state["model_path"].startswith(job.models_dir.as_posix())


def test_streamlit_no_longer_clears_keras_after_each_run():
    import keras
    from streamlit.runtime.scriptrunner import script_runner

    from ui.streamlit_fixes import keep_keras_state

    keep_keras_state()
    before = keras.layers.Dense(1).name
    script_runner._clean_problem_modules()  # what Streamlit calls after every script run
    after = keras.layers.Dense(1).name
    assert after != before and after != "dense"  # clear_session would restart the name counter


@pytest.mark.parametrize("source", ["Test digit", "Upload"])
def test_feature_maps_follow_a_test_digit_or_an_upload(app, source):
    app.session_state["test_index"] = 0  # a 7
    app.segmented_control(key="input_source").set_value(source).run()
    if source == "Upload":
        app.file_uploader[0].upload("seven.png", png_bytes(SEVEN), "image/png").run()
    app.switch_page("views/feature_maps.py").run()
    assert not app.exception
    assert f"Input: {source.lower()}" in app.caption[0].value and "predicted **7**" in app.caption[0].value
    assert len(app.get("plotly_chart")) == 10
