"""Teacher: create a class, put its join link on the projector, watch what the class draws, fine-tune on it."""

from urllib.parse import urlsplit, urlunsplit

import streamlit as st

import classroom
from classroom.db import ClassStoreError, RateLimited
from classroom.qr import join_url, qr_png
from ui import class_dashboard
from ui.classroom import TEACHER, client_key, get_store, teacher_password, unavailable_note
from ui.text import plain

CLASS_CHOSEN = "teacher_class"

st.title("Teacher")


def login(store) -> bool:
    """The password gate; True once this session gave the right password."""
    if st.session_state.get(TEACHER):
        return True
    configured = teacher_password()
    if not configured:
        st.info("No teacher password is set on this server. Set `teacher_password` in "
                "`.streamlit/secrets.toml`, or the environment variable `CONVNET_LAB_TEACHER_PASSWORD`, "
                "then restart the app.")
        return False
    with st.form("teacher_login"):
        given = st.text_input("Teacher password", type="password", key="teacher_password_input")
        if not st.form_submit_button("Log in", type="primary"):
            return False
    try:
        right = classroom.check_teacher_password(store, given, configured, client_key())
    except RateLimited as err:
        st.error(plain(err, limit=300))
        return False
    if not right:
        st.error("That is not the teacher password.")
        return False
    st.session_state[TEACHER] = True
    st.rerun()


def choose_class(store) -> classroom.ClassInfo | None:
    """Create a class, or pick one made earlier (here or with ``python -m classroom create``)."""
    fresh = not classroom.list_classes(store)
    with st.expander("New class", expanded=fresh), st.form("new_class", border=False, clear_on_submit=True):
        name = st.text_input("Class name", max_chars=80, placeholder="e.g. 9B, Tuesday")
        if st.form_submit_button("Create class", type="primary"):
            st.session_state[CLASS_CHOSEN] = classroom.create_class(store, name)
    classes = classroom.list_classes(store)
    if not classes:
        st.info("Create a class to get its join link.")
        return None
    codes = [c.code for c in classes]
    if st.session_state.get(CLASS_CHOSEN) not in codes:
        st.session_state[CLASS_CHOSEN] = codes[0]
    by_code = {c.code: c for c in classes}
    code = st.selectbox("Class", codes, key=CLASS_CHOSEN,
                        format_func=lambda c: f"{by_code[c].name} ({c}){'' if by_code[c].is_open else ' · closed'}")
    return by_code[code]


def app_address() -> str:
    """The app's own address as the browser sees it, without this page's path: the join link opens Draw."""
    parts = urlsplit(st.context.url or "http://localhost:8501")
    path = parts.path.removesuffix("/").removesuffix("/teacher")
    return urlunsplit(parts._replace(path=path + "/", query="", fragment=""))


def join_panel(info: classroom.ClassInfo) -> None:
    """The join link and its QR code, big enough for the back row."""
    if not info.is_open:
        st.warning("This class is closed: nobody can join or send. Its drawings stay for the dashboard and export.")
        return
    link = join_url(app_address(), info.code)
    text, code = st.columns([3, 2])
    with text:
        st.markdown(f"## Class code: `{info.code}`")
        st.markdown("Students open this link (or scan the code), type a nickname if they like, then draw "
                    "and press **Send to class**.")
        st.code(link, language=None)
        st.button("Close the class", key="close_class", on_click=classroom.close_class, args=(get_store(), info.code),
                  help="Nobody can join or send any more; the drawings stay.")
    code.image(qr_png(link), caption="Scan to join", width=360)


def main() -> None:
    try:
        store = get_store()
    except ClassStoreError as err:
        unavailable_note(err)
        return
    if not login(store):
        return
    try:
        info = choose_class(store)
        if info is None:
            return
        join_panel(info)
        class_dashboard.show(store, info)
    except ClassStoreError as err:
        unavailable_note(err)


main()
