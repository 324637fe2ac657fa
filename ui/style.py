"""A little CSS: the prediction reads from the back of a classroom."""

import streamlit as st

_CSS = """
<style>
.st-key-prediction h1 { font-size: 3.2rem; line-height: 1.1; padding: 0.2rem 0; }
.st-key-prediction .big-digit { font-size: 7rem; font-weight: 800; line-height: 1; color: #ff4b4b; }
.st-key-canvas_box { padding-top: 2.6rem; }
/* 28x28 pictures are sent as they are and shown big, pixel by pixel */
[class*='st-key-network_view'] img { image-rendering: pixelated; }
</style>
"""


def apply_style() -> None:
    st.markdown(_CSS, unsafe_allow_html=True)
