"""Teacher: create a class, put its join link on the projector, watch what the class draws, fine-tune on it."""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import streamlit as st
from streamlit import config
from streamlit.net_util import get_internal_ip

import classroom
from classroom.db import ClassStoreError, RateLimited
from classroom.qr import PUBLIC_URL_ENV, JoinAddress, is_loopback, join_address, join_url, qr_png
from ui import class_dashboard
from ui.class_login import client_key, is_teacher, log_in, log_out, session_key, teacher_password, write_cookie
from ui.classroom import get_store, unavailable_note
from ui.text import plain

CLASS_CHOSEN = "teacher_class"
PROJECTOR = "teacher_projector"
QR_SHOWN = 360  # px: the join code's side on the Teacher page, at most


def login(store) -> bool:
    """The password gate; True once this session gave the right password (or its browser kept a login)."""
    if is_teacher():
        return True
    st.title("Teacher")
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
        right = classroom.check_teacher_password(store, given, configured, client_key(), session_key())
    except RateLimited as err:
        st.error(plain(err))
        return False
    if not right:
        st.error("That is not the teacher password.")
        return False
    log_in(store)
    st.rerun()


def new_class(store) -> None:
    """Create a class (unfolded while the store has none); it becomes the chosen one."""
    fresh = not classroom.list_classes(store)
    with st.expander("New class", expanded=fresh), st.form("new_class", border=False, clear_on_submit=True):
        name = st.text_input("Class name", max_chars=80, placeholder="e.g. 9B, Tuesday")
        if st.form_submit_button("Create class", type="primary"):
            st.session_state[CLASS_CHOSEN] = classroom.create_class(store, name)


def class_bar(store) -> classroom.ClassInfo | None:
    """One row: which class (made here or with ``python -m classroom create``), the projector view, log out.
    On the projector only the view's switch shows (the projector's style hides the rest)."""
    classes = classroom.list_classes(store)
    chooser, projector, out = st.columns([3, 2, 1], vertical_alignment="center")
    projector.toggle("Projector view", key=PROJECTOR,
                     help="Large type for the back of the room: the join code, the class's digits, the latest "
                          "drawings. The sidebar folds away.")
    out.button("Log out", key="teacher_log_out", on_click=log_out, width="stretch",
               help="This browser forgets the teacher login.")
    if not classes:
        st.info("Create a class to get its join link.")
        return None
    codes = [c.code for c in classes]
    if st.session_state.get(CLASS_CHOSEN) not in codes:
        st.session_state[CLASS_CHOSEN] = codes[0]
    by_code = {c.code: c for c in classes}
    code = chooser.container(key="teacher_class_picker").selectbox(  # hidden on the projector by its style
        "Class", codes, key=CLASS_CHOSEN, format_func=lambda c: (
            f"{by_code[c].name} ({c}){'' if by_code[c].is_open else ' · closed'}"))
    return by_code[code]


def app_address() -> JoinAddress:
    """Where phones open the app: the teacher's own address, unless that is this machine only (localhost)."""
    parts = urlsplit(st.context.url or "http://localhost:8501")
    path = parts.path.removesuffix("/").removesuffix("/teacher")
    browser = urlunsplit(parts._replace(path=path + "/", query="", fragment=""))
    server_address = config.get_option("browser.serverAddress") if config.is_manually_set(
        "browser.serverAddress") else ""
    server_port = config.get_option("browser.serverPort") if config.is_manually_set("browser.serverPort") else None
    return join_address(browser, os.environ.get(PUBLIC_URL_ENV, ""), server_address, server_port,
                        get_internal_ip() if is_loopback(parts.hostname) else None)


def where_phones_go(address: JoinAddress) -> None:
    """Say which address the code carries, and what a phone needs to open it."""
    host = urlsplit(address.url).netloc
    if address.source == "none":
        st.warning(f"This page is open at {host}, which on a phone means the phone itself, and this server cannot "
                   f"tell its address on the room's network: phones cannot join. Set {PUBLIC_URL_ENV} to the "
                   f"address phones open (such as http://192.168.1.5:8501), or connect this computer to the room's "
                   f"Wi-Fi and reload.")
        return
    said = {"configured": f"The code carries {host}, the address set in {PUBLIC_URL_ENV}.",
            "browser": f"The code carries {host}, the address of this page.",
            "network": f"This page is open at localhost, which on a phone means the phone itself, so the code "
                       f"carries this computer's network address, {host}."}[address.source]
    st.caption(f"{said} Phones must be on the same network as this computer (the same Wi-Fi). Behind a proxy or "
               f"in a container, set {PUBLIC_URL_ENV} to the address phones open.")
    if address.source == "network" and Path("/.dockerenv").exists():
        st.warning(f"This server runs in a container, so {host} may be the container's own address, which phones "
                   f"cannot reach. If they cannot join, set {PUBLIC_URL_ENV} to this computer's address and port.")
    listens = config.get_option("server.address") or ""
    if address.source == "network" and _behind_a_proxy():
        st.warning(f"This page came through a proxy or balancer, so {host} is this server's own address, which "
                   f"phones may not reach. Set {PUBLIC_URL_ENV} on every server to the address phones open (the "
                   f"balancer's), as deploy/README.md says.")
    elif address.source == "network" and listens not in ("", "0.0.0.0", "::") and is_loopback(listens):
        st.warning(f"This server only listens on this computer (server.address is {listens}), so phones cannot "
                   f"reach {host}. Restart it with `--server.address 0.0.0.0`.")


def _behind_a_proxy() -> bool:
    """Whether this page's request came through a proxy or balancer (it says whom it forwarded)."""
    headers = st.context.headers or {}
    return any(headers.get(name) for name in ("X-Forwarded-For", "Forwarded"))


def join_panel(info: classroom.ClassInfo, link: str) -> None:
    """The join link and its QR code, big enough for the back row."""
    text, code = st.columns([3, 2])
    with text:
        st.markdown(f"## Class code: `{info.code}`")
        st.markdown("Students open this link (or scan the code), type a nickname if they like, then draw "
                    "and press **Send to class**.")
        st.code(link, language=None)
        where_phones_go(app_address())
        st.button("Close the class", key="close_class", on_click=close, args=(info.code,),
                  help="Nobody can join or send any more; the drawings stay.")
    code.image(qr_png(link, fit=QR_SHOWN), caption="Scan to join", output_format="PNG",
               alt=f"QR code of the join link {link}")  # PNG: JPEG blurs modules


def close(code: str) -> None:
    try:
        classroom.close_class(get_store(), code)
    except ClassStoreError as err:
        st.toast(f"The class was not closed: {err}")


def main() -> None:
    try:
        store = get_store()
        write_cookie()  # a login's token, or a logout's deletion
        if not login(store):
            return
        projector = st.session_state.get(PROJECTOR, False)
        if not projector:
            st.title("Teacher")
            new_class(store)
        info = class_bar(store)
        if info is None:
            return
        link = join_url(app_address().url, info.code)
        if projector:
            class_dashboard.projector(store, info, link)
            return
        if info.is_open:
            join_panel(info, link)
        else:
            st.warning("This class is closed: nobody can join or send. Its drawings stay for the dashboard and "
                       "export.")
        class_dashboard.show(store, info)
    except ClassStoreError as err:
        unavailable_note(err)


main()
