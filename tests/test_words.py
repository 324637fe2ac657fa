"""The words and numbers a student reads on the lab pages (AppTest): points, no false certainty, plain text."""

import json
import re

import numpy as np
import pytest
from conftest import stroke_image
from test_app import drawing

from mnist_model.engine.storage import PRETRAINED_MODEL

ZIGZAG = stroke_image([(20, 30), (300, 280), (30, 290), (290, 20), (160, 310), (10, 150), (310, 170)], size=320,
                      width=18)  # read as an 8, 96% sure, but unlike any digit the network learnt from


def texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning])


def test_the_draw_page_shows_no_certainty_beside_a_warning(app):
    app.session_state["canvas"] = drawing(ZIGZAG)
    app.run()
    assert not app.exception and "# Prediction:" in texts(app)
    assert any("its answer means little" in w.value for w in app.warning)
    assert "% sure" not in texts(app)
    title = json.loads(app.get_by_key("probabilities").proto.spec)["layout"]["title"]["text"]
    assert title == "What it would answer, however little that means"
    assert app.get_by_key("probabilities").proto.alt.startswith(  # the bars' text alternative says it too
        "Bar chart of what it would answer, however little that means: ")


def test_a_sure_test_digit_is_never_100_percent_and_its_steps_say_test_digit(app):
    app.session_state["test_index"] = 0  # a 7 the bundled model reads with a float32 probability of 1.0
    app.segmented_control(key="input_source").set_value("Test digit").run()
    app.toggle(key="show_steps").set_value(True).run()
    assert not app.exception
    assert "**>99.9% sure**" in texts(app) and "100" not in texts(app)
    steps = json.loads(app.get_by_key("steps").proto.spec)["layout"]["annotations"][0]["text"]
    assert steps == "1. the test digit"
    assert any("A test digit was made this way already" in c.value for c in app.caption)
    bars = json.loads(app.get_by_key("probabilities").proto.spec)["data"][0]
    assert bars["text"][7] == ">99%" and bars["customdata"][7] == ">99.99%"
    assert app.get_by_key("probabilities").proto.alt.startswith(  # the bars' text alternative says it the same way
        "Bar chart of the probability of each digit: 7 at >99.9%, then ")
    assert app.get_by_key("steps").proto.alt.startswith("Four steps, left to right: the test digit with its ink boxed")


def test_the_timeline_speaks_of_points(app):
    app.switch_page("views/timeline.py").run()
    app.slider(key="timeline_epoch").set_value(5).run()
    assert not app.exception
    accuracy = next(m for m in app.metric if m.label == "Test accuracy after epoch 5")
    assert re.fullmatch(r"[+-]\d\.\d\d points since epoch 1", accuracy.delta), accuracy.delta
    app.slider(key="timeline_epoch").set_value(1).run()
    assert not next(m for m in app.metric if m.label == "Test accuracy after epoch 1").delta
    curve = json.loads(app.get_by_key("timeline_curve").proto.spec)["layout"]["yaxis"]
    assert curve["title"]["text"].startswith("accuracy (zoomed in: from ")  # it does not start at 0, and says so


def test_knockout_lists_every_unit_switched_off_and_speaks_of_points(app):
    at = app.switch_page("views/knockout.py").run()
    key = f"knockout|{PRETRAINED_MODEL}|{PRETRAINED_MODEL.stat().st_mtime}|conv_1"
    at.multiselect(key=key).set_value([30, 2, 17]).run()
    at.button(key="knockout_top").click().run()  # five more: the chips would show only a few
    assert not at.exception
    off = sorted(at.multiselect(key=key).value)
    assert len(off) == 8
    assert f"Switched off (8 in all): conv_1 filters {', '.join(map(str, off))}." in [c.value for c in at.caption]
    answer = at.metric[1]
    assert re.fullmatch(r"([+-]\d+\.\d points|under 0\.1 points|no change) for 7", answer.delta), answer.delta
    assert "under 0.1%" not in answer.delta


def test_the_shift_page_says_left_and_the_probability_of_another_digit(app):
    at = app.switch_page("views/invariance.py").run()
    at.slider(key="shift_dx").set_value(-6).run()
    at.slider(key="shift_dy").set_value(0).run()
    assert not at.exception
    captions = [c for image in at.get("image") for c in image.proto.imgs if c.caption]
    assert "6 px left" in [c.caption for c in captions]
    assert not any("-6 px right" in c.caption for c in captions)
    at.selectbox(key="shift_digit").set_value(9).run()  # test image #0 is a 7: 9 is not its answer
    caption = next(c.value for c in at.caption if c.value.startswith("Each square is the digit"))
    assert "the probability the network gives 9 (it reads the unmoved digit as 7)" in caption
    assert "still a 9" not in caption


def test_the_architecture_page_introduces_the_notes_before_quoting_them(app):
    at = app.switch_page("views/architecture.py").run()
    said = [m.value for m in at.markdown]
    first = next(i for i, m in enumerate(said) if "notes" in m)
    assert "Deep Learning with Python" in said[first] and "listing 5.1" in said[first]
    assert "you have not seen them" in said[first] and "slip in the notes" not in " ".join(said)


def test_the_bundled_models_are_named_as_their_cards_describe_them(app):
    options = app.sidebar.selectbox(key="model_path").options
    assert options[:2] == ["classic (convnet, improved recipe, bundled) · 99.44%",
                           "dense (dense network, improved recipe, bundled) · 98.35%"]
    assert "improved recipe" in " ".join(c.value for c in app.sidebar.caption)


@pytest.mark.parametrize("digit", [None, 1])
def test_the_integrated_gradients_caption_adds_up(app, digit):
    at = app.switch_page("views/explain.py").run()
    if digit is not None:
        at.selectbox(key="explain_digit").set_value(digit).run()
    note = next(c.value for c in at.caption if c.value.startswith("**Integrated gradients**"))
    black, yours = (float(v) / 100 if v[0].isdigit() else None
                    for v in re.search(r"black picture \((\S+)%\) to this one \((\S+)%\)", note).groups())
    said = re.search(r"(?:change, |, the whole change, )?([+-]\d+\.\d) points", note)
    assert said and "about" not in note
    if black is not None and yours is not None:
        assert float(said.group(1)) == pytest.approx((yours - black) * 100, abs=1.1)
    assert np.isfinite(float(said.group(1)))


@pytest.mark.parametrize("page", ["views/explain.py", "views/feature_maps.py", "views/compare.py"])
def test_every_page_says_sure_the_way_draw_does(app, page):
    app.session_state["test_index"] = 0  # a 7 the bundled model reads with a float32 probability of 1.0
    app.segmented_control(key="input_source").set_value("Test digit").run()
    app.switch_page(page).run()
    assert not app.exception
    said = texts(app) + "\n".join(f"{m.label} {m.value} {m.delta}" for m in app.metric)
    assert ">99.9% sure" in said and ">99% sure" not in said
