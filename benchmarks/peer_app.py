"""The digit app a tutorial writes, for ``benchmarks/sessions.py`` to drive beside Convnet Lab.

A canvas, ``model.predict`` and a bar chart, the whole script run for every stroke: what the
Streamlit MNIST tutorials build (the model cached with ``st.cache_resource``, the drawing
shrunk to 28x28 with PIL). It shows the same two texts the benchmark's clients wait for, an
empty-canvas hint and "Prediction: N", and has a Clear button, so the very same clients draw on it.
It answers on the bundled model; nothing in it is part of the app.

``streamlit run benchmarks/peer_app.py``
"""

import keras
import numpy as np
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from mnist_model.engine.storage import PRETRAINED_MODEL


@st.cache_resource
def load_model():
    return keras.models.load_model(PRETRAINED_MODEL)


model = load_model()
st.title("Digit recognizer")
canvas = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", width=320, height=320,
                   drawing_mode="freedraw", return_image_data=True, key="canvas")
st.button("Clear", key="clear_canvas")  # the canvas clears with the rerun: its state comes back empty
if canvas.image_data is None or not canvas.image_data[..., :3].any():
    st.info("Draw a digit on the black canvas, and the network guesses it.")
else:
    image = Image.fromarray(canvas.image_data).convert("L").resize((28, 28))
    probabilities = model.predict(np.asarray(image, np.float32).reshape(1, 28, 28, 1) / 255.0)[0]
    st.markdown(f"# Prediction: {int(probabilities.argmax())}")
    st.bar_chart(probabilities)
