"""A keyboard pen for the drawing canvas: Tab to it, arrow keys move, Space puts the pen down and lifts it.

The canvas (streamlit-drawable-canvas) is drawn with a pointer only. This component, script only and
kept out of the layout, finds the canvas on the page, makes it focusable and labelled, and turns
keys into the mouse events a hand would make (``keyboard_pen.js``): a keyboard stroke is drawn, sent
and read as a mouse stroke is, with no second drawing path to keep in step. It also stops the
canvas's hidden toolbar from catching a finger at the canvas's top-right corner on touch screens.
"""

from pathlib import Path

import streamlit as st

KEY = "keyboard_pen"  # ui/style.py keeps its element out of the layout
LABEL = ("Drawing canvas. Draw a digit with a mouse, a finger or a pen. With a keyboard: the arrow keys move the "
         "pen (Home, Page Up, End and Page Down diagonally, Shift for small steps); Space puts it down and lifts "
         "it; the network reads the digit each time the pen is lifted.")
_SCRIPT = Path(__file__).with_name("keyboard_pen.js")
_PEN = st.components.v2.component("convnet_lab.keyboard_pen", js=_SCRIPT.read_text())


def keyboard_pen(size: int) -> None:
    """Give the page's drawing canvas, ``size`` pixels square, a keyboard pen."""
    _PEN(key=KEY, data={"size": size, "label": LABEL, "down": "Pen down.",
                        "lifted": "Pen lifted: the drawing is sent."}, height=0)
