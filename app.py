"""Convnet Lab: draw a digit, watch a convnet read it. ``streamlit run app.py``."""

import streamlit as st

from ui.classroom import class_banner
from ui.current import PREDICTOR
from ui.sidebar import render_sidebar
from ui.streamlit_fixes import keep_keras_state
from ui.style import apply_style

keep_keras_state()

st.set_page_config(page_title="Convnet Lab", page_icon=":material/draw:", layout="wide")
apply_style()

pages = {
    "Look inside": [
        st.Page("views/draw.py", title="Draw & predict", icon=":material/draw:", default=True),
        st.Page("views/feature_maps.py", title="Feature maps", icon=":material/grid_view:"),
        st.Page("views/filters.py", title="Filters", icon=":material/filter_center_focus:"),
        st.Page("views/architecture.py", title="Architecture", icon=":material/account_tree:"),
    ],
    "Why convnets work": [
        st.Page("views/convolution.py", title="Convolution, step by step", icon=":material/calculate:"),
        st.Page("views/invariance.py", title="Shift a digit", icon=":material/open_with:"),
        st.Page("views/data_efficiency.py", title="Learning from few digits", icon=":material/show_chart:"),
        st.Page("views/hierarchy.py", title="What each unit sees", icon=":material/center_focus_strong:"),
    ],
    "Ask the network": [
        st.Page("views/explain.py", title="Why this answer", icon=":material/help:"),
        st.Page("views/knockout.py", title="Switch filters off", icon=":material/power_settings_new:"),
        st.Page("views/evaluation.py", title="How good is it", icon=":material/fact_check:"),
        st.Page("views/compare.py", title="Compare two models", icon=":material/compare:"),
        st.Page("views/timeline.py", title="How it learned", icon=":material/timeline:"),
    ],
    "Classroom": [
        st.Page("views/teacher.py", title="Teacher", icon=":material/school:"),
    ],
}
page = st.navigation(pages, expanded=True)  # every page in view: a class should not hunt behind "View more"
class_banner()  # the class invitation or badge, at the top of every page
st.session_state[PREDICTOR] = render_sidebar()
page.run()
