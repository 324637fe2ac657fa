"""Convnet Lab: draw a digit, watch a convnet read it. ``streamlit run app.py``.

``streamlit run`` first imports this file to look for an ``st.App`` named ``app``: the one below
warms TensorFlow and the model while the server starts and answers ``/ready`` once it is warm
(``ui/warm_start.py``). Then, for every
page view, Streamlit runs this same file as ``__main__``: ``main`` draws the shared sidebar and
routes to the page.
"""

import streamlit as st


def main() -> None:
    # imported here, not at the top: the server's own import of this file must not wait for TensorFlow
    from mnist_model.engine.errors import ModelFileError
    from ui.classroom import class_banner
    from ui.current import PREDICTOR
    from ui.sidebar import render_sidebar
    from ui.streamlit_fixes import bound_widget_json, keep_keras_state
    from ui.style import apply_style
    from ui.text import plain
    from ui.warm_start import PAGE_DRAWN, PAGE_STARTED

    PAGE_STARTED.set()
    keep_keras_state()
    bound_widget_json()  # before any widget message is read: one nested a million deep is refused in a sentence
    st.set_page_config(page_title="Convnet Lab", page_icon=":material/draw:", layout="wide")
    apply_style()
    page = st.navigation(pages(), expanded=True)  # every page in view: a class should not hunt behind "View more"
    class_banner()  # the class invitation or badge, at the top of every page
    st.session_state[PREDICTOR] = render_sidebar()
    try:
        page.run()
    except ModelFileError as err:  # a model renamed or deleted by someone else while this page used it
        st.error(f"{plain(err, limit=400)} Pick a model in the sidebar and try again.", icon=":material/error:")
    PAGE_DRAWN.set()  # the warm-up may import TensorFlow now (ui/warm_start.py)


def pages() -> dict[str, list]:
    return {
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


if __name__ == "__main__":  # a page view: Streamlit runs the script as __main__
    main()
else:  # `streamlit run app.py` imports the file to find this app, and serves it
    from ui.streamlit_fixes import (
        bound_widget_json,
        deliver_finished_runs,
        reuse_theme_messages,
        skip_direct_run_warning,
        wake_loop_in_place,
    )
    from ui.warm_start import ROUTES, lifespan

    deliver_finished_runs()
    bound_widget_json()
    skip_direct_run_warning()
    reuse_theme_messages()
    wake_loop_in_place()

    app = st.App(__file__, lifespan=lifespan, routes=ROUTES)
