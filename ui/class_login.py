"""Who is asking, for the classroom: the client's address and session for rate limits, and the
teacher's login, kept across reloads in a cookie that holds a signed token (never the password).

The cookie is written by a line of JavaScript in the page (Streamlit has no API to set one);
a new session, after a reload or a server restart, finds it in ``st.context.cookies``.
"""

from __future__ import annotations

import contextlib
import os
import secrets

import streamlit as st

import classroom
from classroom.clients import TRUSTED_PROXIES_ENV, client_address, forwarded_hops, rate_key, trusted_proxies
from classroom.db import ClassStoreError
from classroom.teacher import TOKEN_TTL_S

TEACHER = "teacher_logged_in"
PASSWORD_ENV = "CONVNET_LAB_TEACHER_PASSWORD"
COOKIE = "convnet_lab_teacher"
_SESSION = "class_client_key"  # this browser session's random name, for per-session counts
_COOKIE_WRITE = "teacher_cookie_write"  # the cookie to write on the next run: a token, or "" to delete it
_COOKIE_READ = "teacher_cookie_read"  # this session looked at its cookie already (or logged out)


def teacher_password() -> str:
    """The configured teacher password: Streamlit secrets first, then the environment; '' when none."""
    try:
        configured = st.secrets.get("teacher_password")
    except FileNotFoundError:  # no secrets file at all
        configured = None
    return str(configured or os.environ.get(PASSWORD_ENV) or "")


def session_key() -> str:
    """This browser session's name for rate limits: random, kept for the session's life."""
    if _SESSION not in st.session_state:
        st.session_state[_SESSION] = f"session:{secrets.token_hex(8)}"
    return st.session_state[_SESSION]


def client_key() -> str:
    """The address this session's attempts count against (``classroom.clients``): a forged
    X-Forwarded-For counts only when the connection comes from a proxy named in $CONVNET_LAB_TRUSTED_PROXIES."""
    hops = forwarded_hops(st.context.headers.get_all("x-forwarded-for"))
    return rate_key(client_address(st.context.ip_address, hops, _trusted(os.environ.get(TRUSTED_PROXIES_ENV, ""))))


@st.cache_data(ttl=60, show_spinner=False)
def _trusted(setting: str):
    return trusted_proxies(setting)  # host names are looked up again after a minute: containers move


def is_teacher() -> bool:
    return bool(st.session_state.get(TEACHER))


def log_in(store: classroom.Store) -> None:
    """The right password was given: this session is the teacher, and the browser keeps a token."""
    st.session_state[TEACHER] = True
    st.session_state[_COOKIE_READ] = True
    st.session_state[_COOKIE_WRITE] = classroom.teacher_token(store, teacher_password())


def log_out() -> None:
    """Button callback: this session is no longer the teacher, and the browser forgets its token."""
    st.session_state[TEACHER] = False
    st.session_state[_COOKIE_READ] = True  # the session still carries the old cookie: never read it again
    st.session_state[_COOKIE_WRITE] = ""


def restore_teacher(store_of) -> None:
    """A new session whose browser holds a valid teacher token is the teacher again (once per session).

    Args:
        store_of: gives the class store (called only when there is a token to check).
    """
    if st.session_state.get(_COOKIE_READ):
        return
    st.session_state[_COOKIE_READ] = True
    token, configured = st.context.cookies.get(COOKIE), teacher_password()
    if not token or not configured:
        return
    # an unreachable store (it can take seconds to say so) is not asked again on every run: the teacher logs in anew
    with contextlib.suppress(ClassStoreError):
        st.session_state[TEACHER] = classroom.check_teacher_token(store_of(), token, configured)


def write_cookie() -> None:
    """Write (or delete) the teacher's cookie in the browser, if a login or logout asked for it."""
    token = st.session_state.pop(_COOKIE_WRITE, None)
    if token is None:
        return
    age = TOKEN_TTL_S if token else 0
    secure = "; Secure" if (st.context.url or "").startswith("https:") else ""  # never sent over plain HTTP then
    st.html(f"<script>document.cookie = '{COOKIE}={token}; Max-Age={age}; Path=/; SameSite=Strict{secure}';</script>",
            unsafe_allow_javascript=True)
