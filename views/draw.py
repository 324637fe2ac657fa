"""Draw & predict: the canvas, a test digit or an upload, and what the network makes of it."""

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from mnist_model.engine.preprocess import (
    UPLOAD_TYPES,
    ImageError,
    bounded_canvas_objects,
    canvas_to_mnist,
    decode_canvas,
    doubts,
    read_upload,
)
from mnist_model.figures.alt import preprocessing_alt, probabilities_alt
from mnist_model.figures.common import pixels, png_url, preprocessing_steps, probability_bars
from mnist_model.figures.numbers import ink_words, percent, sure
from mnist_model.lab.words import UNFAMILIAR
from server import resources
from ui.classroom import send_to_class
from ui.current import CurrentInput, active_model_path, keep, kept, kept_toggle, predictor, set_input
from ui.keyboard_pen import keyboard_pen
from ui.streamlit_fixes import deep_json_refused
from ui.text import plain

CANVAS_SIZE = 320
CANVAS_KEY = "canvas"
EMPTY_DRAWING = {"drawing": {"raw": {"objects": []}, "data": None}, "backgroundFit": None}
DEFAULT_PEN = 18
NETWORK_VIEW = 280  # px: the 28x28 input at 10x
SOURCES = ["Draw", "Test digit", "Upload"]
UNSURE_BELOW = 0.6  # top probability under which the page says it is not sure
STEP_SOURCES = {"drawing": "your drawing", "test digit": "the test digit", "upload": "your image"}  # step 1's title

st.title("Draw a digit")
source = st.segmented_control("Input", SOURCES, default=kept("input_source", "Draw"), required=True,
                              key="input_source", label_visibility="collapsed")
keep("input_source", source)


def clear_canvas() -> None:
    """Empty the canvas in place: a new ``initial_drawing`` makes the browser reload an empty one,
    and the stored drawing is emptied now so this very rerun shows no stale prediction."""
    clears = st.session_state.get("canvas_clears", 0) + 1
    st.session_state.canvas_clears = clears
    st.session_state[CANVAS_KEY] = EMPTY_DRAWING
    keep("canvas_initial", {"objects": [], "clears": clears})
    keep("drawing", None)
    keep("drawing_url", None)
    keep("drawing_objects", [])
    set_input(None)


def drawing_input() -> CurrentInput | None:
    """The canvas, given back the kept drawing whenever the page is shown again."""
    if CANVAS_KEY not in st.session_state:  # first visit, or back from another page or source
        keep("canvas_initial", {"objects": kept("drawing_objects", []),
                                "clears": st.session_state.get("canvas_clears", 0)})
    pen_width = st.session_state.get("pen_width", kept("pen_width", DEFAULT_PEN))
    with st.container(key="canvas_box"):
        result = st_canvas(stroke_width=pen_width, stroke_color="#FFFFFF", background_color="#000000",
                           width=CANVAS_SIZE, height=CANVAS_SIZE, drawing_mode="freedraw",
                           return_image_data=True, key=CANVAS_KEY, initial_drawing=kept("canvas_initial"))
    with st.container(horizontal=True, vertical_alignment="bottom", wrap=False, gap="medium"):  # a phone too
        keep("pen_width", st.slider("Pen width", 6, 40, pen_width, key="pen_width"))
        st.button("Clear", key="clear_canvas", on_click=clear_canvas)
    if refused := deep_json_refused():
        st.warning(refused)
    url = ((st.session_state[CANVAS_KEY] or {}).get("drawing") or {}).get("data")
    objects = (result.json_data or {}).get("objects") or []
    if url is not None and url != kept("drawing_url") and not objects:
        # no stroke on it: the canvas sends its blank picture once more after Clear, nothing to decode
        keep("drawing", None)
        keep("drawing_url", url)
        keep("drawing_objects", [])
        return None
    if url is not None and url != kept("drawing_url"):  # a new stroke: the only time to preprocess
        try:
            image = decode_canvas(url)  # its size is checked before it is decoded: a forged message costs nothing
        except ImageError as err:
            st.warning(str(err))
            return kept("drawing")
        keep("drawing", CurrentInput("drawing", canvas_to_mnist(image, light_ink=True)))
        keep("drawing_url", url)
        keep("drawing_objects", bounded_canvas_objects(objects))
    return kept("drawing")


def test_digit_input() -> CurrentInput:
    images, labels = resources.test_images()
    if st.button("Another test digit", key="new_test_digit") or "test_index" not in st.session_state:
        st.session_state.test_index = int(np.random.default_rng().integers(len(images)))
    index = st.session_state.test_index
    label = int(labels[index])
    with st.container(key="network_view_test"):
        st.image(png_url(pixels(images[index] / 255.0, scale=1)), caption=f"MNIST test image #{index}: a {label}",
                 width=CANVAS_SIZE, alt=f"MNIST test image #{index}, a handwritten {label}: {ink_words(images[index])}")
    return CurrentInput("test digit", canvas_to_mnist(images[index]), label, f"test image #{index}")


def forget_removed_upload() -> None:
    if st.session_state.get("upload") is None:  # the student removed the file
        keep("upload", None)


def upload_input() -> CurrentInput | None:
    """An uploaded image, read once per file and kept until another replaces it or it is removed."""
    upload = st.file_uploader("A photo or scan of one handwritten digit", type=list(UPLOAD_TYPES),
                              key="upload", on_change=forget_removed_upload)
    saved = kept("upload")
    if upload is not None and (saved is None or saved["file_id"] != upload.file_id):
        saved = read_uploaded(upload)
        keep("upload", saved)
    if saved is None:
        return None
    if "error" in saved:
        st.error(saved["error"])
        return None
    for note in saved["notes"]:
        st.caption(plain(note, limit=400))
    with st.container(key="photo"):  # a photo, shown smoothed, not pixel by pixel as the 28x28 pictures
        st.image(saved["preview"], caption=plain(saved["name"]), width=CANVAS_SIZE,
                 alt=f"The uploaded picture, {saved['preview'].width}x{saved['preview'].height} pixels as shown")
    return saved["input"]


def read_uploaded(upload) -> dict:
    """Read and preprocess an uploaded file once; what the page needs to show it again."""
    name = upload.name
    try:
        read = read_upload(upload.getvalue(), name)
    except ImageError as err:
        return {"file_id": upload.file_id, "name": name,
                "error": f"Could not read {plain(name)}: {plain(err, limit=400)} Try a photo or scan of a single digit "
                         f"({', '.join(UPLOAD_TYPES)})."}
    preview = read.image.copy()
    preview.thumbnail((CANVAS_SIZE, CANVAS_SIZE))
    return {"file_id": upload.file_id, "name": name, "notes": read.notes, "preview": preview,
            "input": CurrentInput("upload", canvas_to_mnist(read.image), caption=plain(name))}


def show_prediction(current: CurrentInput | None) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """The answer in words, big; returns the probabilities (None when there is nothing to read) and
    the doubts said about the input."""
    with st.container(key="prediction"):
        if current is None or current.prep.empty:
            hint = {"Draw": "Draw a digit on the black canvas: the network guesses when you lift the pen. With "
                            "a keyboard, Tab to the canvas: the arrow keys move the pen, Space puts it down and "
                            "lifts it.",
                    "Upload": "Upload an image of a single digit.",
                    "Test digit": "Pick a test digit."}[source]
            st.info(hint if current is None or source == "Draw" else "The image looks empty: no digit to read.")
            return None, ()
        probs = predictor().probabilities(current.prep.image)
        order = np.argsort(probs)[::-1]
        digit, confidence = int(order[0]), float(probs[order[0]])
        st.markdown(f"# Prediction: {digit}")
        said = input_doubts(current)
        if said:  # no certainty beside a warning that the answer means little
            for doubt in said:
                st.warning(doubt, icon=":material/help:")
        elif confidence < UNSURE_BELOW:
            st.warning(f"Not sure: {digit} or {int(order[1])}? ({percent(confidence, 1)} vs "
                       f"{percent(probs[order[1]], 1)})")
        else:
            st.markdown(f"**{sure(confidence)}**")
        if current.label is not None:
            verdict = "right" if current.label == digit else "wrong"
            st.markdown(f"True label: **{current.label}** · the network is {verdict}.")
    return probs, said


def show_probabilities(probs: np.ndarray | None, said: tuple[str, ...] = ()) -> None:
    if probs is not None:
        title = "What it would answer, however little that means" if said else "Probability of each digit"
        what = "what it would answer, however little that means" if said else "the probability of each digit"
        st.plotly_chart(probability_bars(probs, title=title), key="probabilities", config={"displayModeBar": False},
                        alt=probabilities_alt(probs, what))


def input_doubts(current: CurrentInput) -> tuple[str, ...]:
    """Why the answer may mean little: not one digit, or unlike the digits the model learnt from.
    A test digit is an MNIST digit: no doubt to raise."""
    if current.source == "test digit":
        return ()
    said = doubts(current.prep)
    familiar = resources.familiarity_check(active_model_path())  # None while the model is being prepared
    image = current.prep.image
    if not said and familiar is not None and familiar.unfamiliar(image, predictor().activations(image)):
        said = (UNFAMILIAR,)
    return said


def what_the_network_sees(current: CurrentInput | None) -> None:
    if current is None or current.prep.empty:
        return
    with st.expander("What the network sees", expanded=True):
        image, why = st.columns(2)
        with image:
            st.image(png_url(pixels(current.prep.image, scale=1)), caption="The 28x28 input", width=NETWORK_VIEW,
                     alt=f"The input the network reads: {ink_words(current.prep.image)}")
        with why:
            if kept_toggle("Show the ink behind the answer", "show_saliency"):
                saliency = predictor().saliency(current.prep.image)
                row, col = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
                st.image(png_url(pixels(saliency, scale=1, colormap="hot")),
                         caption="Bright: the ink that pushed the network towards its answer", width=NETWORK_VIEW,
                         alt=f"Saliency map, 28x28: brightest at row {row}, column {col}; "
                             f"{int((saliency >= 0.5 * saliency.max()).sum())} pixels at half of that or more")
        if kept_toggle("Show the preprocessing steps", "show_steps"):
            already = (" A test digit was made this way already, so the steps change it very little."
                       if current.source == "test digit" else "")
            st.caption("As MNIST was made: crop to the ink, fit into a 20x20 box keeping the aspect "
                       f"ratio, then centre the centre of mass in a 28x28 image.{already}")
            source = STEP_SOURCES[current.source]
            st.plotly_chart(preprocessing_steps(current.prep, source=source), key="steps",
                            alt=preprocessing_alt(current.prep, source))


@st.fragment
def input_and_answer() -> None:
    """Everything a stroke changes: a stroke reruns only this, not the sidebar or the page around it."""
    with resources.drawing_turn():  # a few sessions at a time: see server.resources.drawing_turn
        _input_and_answer()


def _input_and_answer() -> None:
    left, right = st.columns([1, 1], gap="large")
    with left:
        make = {"Draw": drawing_input, "Test digit": test_digit_input, "Upload": upload_input}[source]
        current = make()
        set_input(current)
    with right:  # on a phone the columns stack: the answer comes right under the canvas
        probs, said = show_prediction(current)
        send_to_class(current)  # before the bars: a student in a class sends without scrolling
        show_probabilities(probs, said)
    what_the_network_sees(current)


if source == "Draw":
    keyboard_pen(CANVAS_SIZE)  # outside the fragment: mounted once per page view, not once per stroke
input_and_answer()
