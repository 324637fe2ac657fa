"""Convnet Lab: draw a digit, watch a convnet read it. ``streamlit run app.py``."""

import streamlit as st

from ui.current import PREDICTOR
from ui.sidebar import render_sidebar
from ui.style import apply_style

st.set_page_config(page_title="Convnet Lab", page_icon="✏️", layout="wide")
apply_style()

pages = [
    st.Page("pages/draw.py", title="Draw & predict", icon="✏️", default=True),
    st.Page("pages/feature_maps.py", title="Feature maps", icon="🧩"),
    st.Page("pages/filters.py", title="Filters", icon="🔍"),
    st.Page("pages/architecture.py", title="Architecture", icon="🏗️"),
]
page = st.navigation(pages)
st.session_state[PREDICTOR] = render_sidebar()
page.run()
