"""A little CSS: the prediction reads from the back of a classroom, and every page fits a phone.

Streamlit stacks columns on screens up to 640 px wide; the rules for that width make the first
screen count (less padding, a smaller title), so that on a 390x844 phone the answer sits under
the canvas without scrolling. Nothing here hides content: long button labels wrap instead of
ending in "…", code lines wrap instead of running off the edge. Grey and red text is darkened to
WCAG AA's 4.5:1 where Streamlit's own colours fall short. (Plotly's zoom buttons are left
out on touch screens, where they would sit on top of a plot's legend.)
"""

import streamlit as st

_CSS = """
<style>
/* the first screen counts, on a phone and on a 720-px-high projector alike: less empty space on top */
[data-testid='stMainBlockContainer'] { padding-top: 4.25rem; }
.st-key-prediction h1 { font-size: 3.2rem; line-height: 1.1; padding: 0.2rem 0; }
.st-key-prediction .big-digit { font-size: 7rem; font-weight: 800; line-height: 1; color: #ff4b4b; }
/* room above the canvas for its own toolbar (undo, redo, clear), which rises 2.65rem above it on hover,
   after a tap and on keyboard focus: on any screen, with a mouse or a finger, it must not cover the choice
   of Draw, Test digit or Upload above it */
.st-key-canvas_box { padding-top: 2.6rem; }
/* the canvas's keyboard pen is script only (ui/keyboard_pen.py): it takes no room */
.st-key-keyboard_pen { display: none; }
/* 28x28 pictures are sent as they are and shown big, pixel by pixel (a photo keeps its smoothing) */
[data-testid='stMain'] [data-testid='stImage'] img { image-rendering: pixelated; }
.st-key-photo img { image-rendering: auto; }
/* a button or a metric says all it has to say: its label wraps rather than ending in an ellipsis */
[data-testid='stMain'] .stMarkdownEllipsis,
[data-testid='stMain'] .stMarkdownEllipsis p { white-space: normal; overflow: visible; text-overflow: clip; }
/* text meets WCAG AA's 4.5:1 on white and on the sidebar's grey: Streamlit's captions (dark text at
   60% opacity, #828180 on white) are 3.9:1, and a chosen segment's red on its pink 4.47:1 */
[data-testid='stCaptionContainer'], [data-testid='stImageCaption'] { color: #5e5d5c; opacity: 1; }
button[data-variant='segmented_control'][aria-checked='true'] p { color: #a8283a; }
/* the convolution page's panels level with each other, whether a title takes one line or two,
   and its × and = level with their middle */
[class*='st-key-conv_'][class*='_title'] { min-height: 3rem; }
[class*='st-key-conv_operator'] { padding-top: 7.5rem; }

@media (max-width: 640px) {
  [data-testid='stMainBlockContainer'] { padding-bottom: 5rem; }
  /* the 320-px canvas drawn at 270 px, so a finger has a strip beside it to scroll the page with;
     the canvas still draws in its own 320-px coordinates, so a drawing is the same on every screen */
  .st-key-canvas { transform: scale(0.84); transform-origin: top left; margin-bottom: -3.2rem; }
  /* its toolbar shrinks with it: 0.84 x 2.65rem above the canvas, less the 1rem gap over the box */
  .st-key-canvas_box { padding-top: 1.5rem; }
  /* after the answer, a student in a class chooses the digit and sends it on the same screen */
  [data-testid='stMainBlockContainer'] { padding-top: 3.75rem; }
  .st-key-class_send { gap: 0.5rem; padding: 0.75rem; }
  .st-key-class_send [data-testid='stWidgetLabel'] { margin-bottom: 0.25rem; }
  /* the ten digits in one row of tall keys, as a phone's number row */
  .st-key-intended_digit, .st-key-intended_digit [data-testid='stButtonGroup'] { width: auto; align-self: stretch; }
  .st-key-intended_digit [role='radiogroup'] { display: grid; grid-template-columns: repeat(10, 1fr); gap: 0.2rem;
                                               width: auto; max-width: none; }
  .st-key-intended_digit [role='radiogroup'] button { min-width: 0; min-height: 2.75rem; padding: 0;
                                                      justify-content: center; }
  [data-testid='stMain'] h1 { font-size: 2rem; padding: 0.25rem 0 0.5rem; }
  [data-testid='stMain'] h2 { font-size: 1.5rem; }
  .st-key-prediction h1 { font-size: 2.6rem; padding: 0; }
  [data-testid='stMetricValue'] { font-size: 1.75rem; }
  [data-testid='stMain'] pre code { white-space: pre-wrap; word-break: break-word; }
  /* stacked columns follow each other as closely as any two elements, whatever their gap side by side */
  [data-testid='stHorizontalBlock'] { row-gap: 1rem; }
  [class*='st-key-conv_operator'] { padding-top: 0; text-align: center; }
  [class*='st-key-conv_'][class*='_title'] { min-height: 0; }
  /* the layer diagram keeps the width its labels need, and the 16-a-row grids of filters cells a
     finger's width: each scrolls sideways inside its own box instead of shrinking to specks */
  .st-key-diagram, [class*='st-key-patterns_'], .st-key-kernels, .st-key-timeline_kernels,
  .st-key-timeline_maps { overflow-x: auto; }
  .st-key-diagram [data-testid='stFullScreenFrame'] { min-width: 36rem; }
  [class*='st-key-patterns_'] [data-testid='stFullScreenFrame'], .st-key-kernels [data-testid='stFullScreenFrame'],
  .st-key-timeline_kernels [data-testid='stFullScreenFrame'],
  .st-key-timeline_maps [data-testid='stFullScreenFrame'] { min-width: 44rem; }
}
/* a touch screen shows the canvas's toolbar only for a moment after a tap, if at all: its room goes to the
   first screen, where a student in class chooses the digit and sends it without scrolling ... */
@media (hover: none) {
  .st-key-canvas_box { padding-top: 0; }
}
/* ... and plotly's zoom and pan buttons would only sit on top of the legend */
@media (hover: none) {
  .stPlotlyChart .modebar-container { display: none; }
}
/* a finger needs more than a 12 px dot to grab a slider */
@media (pointer: coarse) {
  [data-testid='stSlider'] div:has(> div > input[type='range']) { width: 1.5rem; height: 1.5rem; }
}
</style>
"""


# On a phone or a portrait tablet the open sidebar covers or squeezes the page: a tap on a page's link
# folds it at once, in the browser, without waiting for the server (a busy one takes seconds to answer).
_NAV_FOLDS_SIDEBAR = """
<script>
if (!window.convnetNavFoldsSidebar) {
  window.convnetNavFoldsSidebar = true;
  document.addEventListener('click', event => {
    if (!event.target.closest("[data-testid='stSidebarNav'] a") || !matchMedia('(max-width: 768px)').matches) return;
    setTimeout(() => document.querySelector("[data-testid='stSidebarCollapseButton'] button")?.click(), 0);
  }, true);
}
</script>
"""


def apply_style() -> None:
    st.markdown(_CSS, unsafe_allow_html=True)
    with st.sidebar:  # there it takes no room on the page
        st.html(_NAV_FOLDS_SIDEBAR, unsafe_allow_javascript=True)
