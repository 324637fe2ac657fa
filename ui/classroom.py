"""Classroom mode's session glue: the class store, the class a student joined, sending to it.

Everything here calls plain functions of ``classroom``; a store that cannot be reached
turns into one sentence on the page, and the app keeps drawing and predicting. The
teacher's login and the client's identity are in ``class_login``.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

import classroom
from classroom.db import DEFAULT_DB, ENV_VAR, ClassStoreError, ClassStoreUnavailable, RateLimited
from classroom.store import MAX_PNG_BYTES, MAX_PNG_SIDE
from mnist_model.engine.preprocess import canvas_to_mnist
from mnist_model.figures.numbers import sure

from .class_login import client_key, is_teacher, restore_teacher, session_key
from .current import CurrentInput, active_model_path, keep, kept, predictor
from .text import plain

QUERY_KEY = "class"  # the join link's ?class=CODE
STUDENT = "class_student"  # this session's membership: {"code", "name", "student", "nickname"}
ME_KEY = "me"  # ?me=<student id>, added to the link once joined: a reload or a restarted server finds them again
WANTED = "class_wanted"  # the code of ?class=CODE, kept until this session joins or declines: the URL loses it
RUNNING_CHECK_S = 10  # how often a server asks the store whether a class is running
_SENT = "class_sent_keys"  # send key -> whether the store holds that drawing, as far as this session knows
_NOTICE = "class_notice"
_SEND_NOTICE = "class_send_notice"
_DRAFTS = "class_drafts_kept"  # how many drafts this session wrote
MAX_DRAFTS = 200  # a session's drafts: far more than a lesson's drawings, few enough that tapping costs nothing


@st.cache_resource(show_spinner=False)
def _store(url: str) -> classroom.Store:
    return classroom.connect(url)


def get_store() -> classroom.Store:
    """The class store this server uses (``$CONVNET_LAB_DB``, else the SQLite file), opened once per URL.

    Raises:
        ClassStoreUnavailable: it cannot be opened; the caller says so and carries on.
    """
    return _store(classroom.default_url())


def membership() -> dict | None:
    """The class this session joined, or None."""
    return st.session_state.get(STUDENT)


def students_locked() -> bool:
    """Whether only the teacher may start or stop training now: this session is in a class, or a class
    runs on this server's store (``classroom.running_class``) and this session is not its teacher."""
    return not is_teacher() and (membership() is not None or running_class() is not None)


def running_class() -> classroom.ClassInfo | None:
    """The class running on this server's store, if any (asked at most every RUNNING_CHECK_S)."""
    return _running_class(classroom.default_url()) if _store_in_use() else None


def model_changes_refused() -> str | None:
    """Why this session may not upload, rename or delete shared models (a sentence), or None when it may.

    While a class runs, only the teacher may: whoever else is here is in the class, joined or
    not (leaving the class, or opening the app without its link, changes nothing).
    """
    if is_teacher():
        return None
    joined, running = membership(), running_class()
    name = joined["name"] if joined else running.name if running else None
    if name is None:
        return None
    return (f"The class {plain(name, limit=40)} is running on this server, so only the teacher can upload, "
            f"rename or delete models.")


def _store_in_use() -> bool:
    return bool(os.environ.get(ENV_VAR)) or Path(DEFAULT_DB).exists()


@st.cache_data(ttl=RUNNING_CHECK_S, show_spinner=False)
def _running_class(url: str) -> classroom.ClassInfo | None:
    """The running class, asked of the store at most every RUNNING_CHECK_S per server; None if it cannot say."""
    try:
        return classroom.running_class(_store(url))
    except ClassStoreError:
        return None


def class_banner() -> None:
    """At the top of every page: the offer to join (``?class=CODE``), or a small badge once joined
    (with Leave in the sidebar). On a phone the sidebar is folded away; the top of the page is not."""
    restore_teacher(get_store)
    joined = membership() or _come_back()
    wanted = wanted_code() if joined is None else None
    if joined is not None:
        _keep_in_link(joined)
        _badge(joined)
    elif wanted:
        _join_box(wanted)
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        st.warning(notice)


def _come_back() -> dict | None:
    """The membership of a student whose link says who they are (``?class=CODE&me=ID``), or None.

    A new browser session starts on every reload and whenever the server restarts; the link
    the student is on still carries their id, so they are in their class again, with the
    drawings they sent, without joining as somebody new.
    """
    code, student = st.query_params.get(QUERY_KEY), st.query_params.get(ME_KEY)
    if not code or not student:
        return None
    try:
        info, nickname = classroom.rejoin(get_store(), code, student, client=client_key(), session_key=session_key())
    except (ClassStoreUnavailable, RateLimited):
        return None  # the join box says why; the id stays in the link for later
    except ClassStoreError:
        st.query_params.pop(ME_KEY, None)  # not this class's student (or the class closed): offer to join
        return None
    _become_member(info.code, info.name, student, nickname)
    restore_draft(student)
    return membership()


def _keep_in_link(joined: dict) -> None:
    """Put the class and the student's id in the address bar (choosing a page drops the query string)."""
    if st.query_params.get(QUERY_KEY) != joined["code"] or st.query_params.get(ME_KEY) != joined["student"]:
        st.query_params.update({QUERY_KEY: joined["code"], ME_KEY: joined["student"]})


def _become_member(code: str, name: str, student: str, nickname: str) -> None:
    st.session_state[STUDENT] = {"code": code, "name": name, "student": student, "nickname": nickname}
    st.session_state["nickname"] = nickname or None  # credited when this student uploads a model
    st.session_state.pop(WANTED, None)


def wanted_code() -> str | None:
    """The class this session was invited to and has not joined or declined yet.

    Kept in session state as soon as the URL shows it: choosing another page drops the
    query string, and the offer to join must survive that.
    """
    from_url = st.query_params.get(QUERY_KEY)
    if from_url:
        st.session_state[WANTED] = from_url
    return st.session_state.get(WANTED)


def _badge(joined: dict) -> None:
    """Out of the way: one line at the top of the page; the full badge and Leave in the sidebar."""
    who = f" as **{plain(joined['nickname'])}**" if joined["nickname"] else ""
    with st.container(key="class_badge"):
        st.caption(f":material/school: In class **{plain(joined['name'])}** ({joined['code']}){who}")
    with st.sidebar:
        st.success(f"In class **{plain(joined['name'])}** ({joined['code']}){who}.", icon=":material/school:")
        st.button("Leave the class", key="leave_class", on_click=_leave)


def _join_box(code: str) -> None:
    try:
        info = classroom.find_class(get_store(), code, client=client_key(), session_key=session_key())
    except ClassStoreError as err:  # wrong code, closed class, store unavailable: say it, keep working
        st.warning(f"{plain(err)} The app works as usual without a class.")
        if not isinstance(err, (ClassStoreUnavailable, RateLimited)):  # a store may come back, a wait may end
            st.session_state.pop(WANTED, None)
        return
    with st.container(key="class_invite", border=True):
        with st.form("join_class", border=False):
            st.markdown(f":material/school: Join the class **{plain(info.name)}** ({info.code})")
            st.text_input("Nickname (optional)", key="class_nickname", max_chars=40,
                          help="Any name your teacher will see next to your drawings. No real name needed.")
            st.form_submit_button("Join", type="primary", on_click=_join, args=(info.code, info.name))
        st.button("Not now", key="decline_class", on_click=_forget_class, type="tertiary",
                  help="Draw on your own. Open the class link again to join later.")


def _join(code: str, name: str) -> None:
    nickname = classroom.clean_text(st.session_state.get("class_nickname", ""), 40)
    try:
        student = classroom.join(get_store(), code, nickname, client=client_key())
    except ClassStoreError as err:
        st.session_state[_NOTICE] = str(err)
        return
    _running_class.clear()  # a lesson may have just begun: this server knows now, not RUNNING_CHECK_S later
    _become_member(code, name, student, nickname)


def _leave() -> None:
    st.session_state.pop(STUDENT, None)
    st.session_state.pop("nickname", None)
    _forget_class()


def _forget_class() -> None:
    """Declined or left: no join offer on any page until the class link is opened again."""
    st.session_state.pop(WANTED, None)
    st.query_params.pop(QUERY_KEY, None)
    st.query_params.pop(ME_KEY, None)


def send_to_class(current: CurrentInput | None) -> None:
    """Below the prediction, for a student in a class: say which digit was meant, send it, see what was sent."""
    joined = membership()
    if joined is None:
        return
    with st.container(key="class_send", border=True):
        st.markdown(f"**Send to your class** {plain(joined['name'])}")
        if current is None or current.prep.empty:
            st.caption("Draw a digit, or upload a photo of one, to send it.")
        elif current.source == "test digit":
            st.caption("Test digits come from MNIST, not from the class: draw your own to send it.")
        else:
            _send_box(joined, current)
        _sent_list(joined)


def _send_box(joined: dict, current: CurrentInput) -> None:
    intended = st.pills("Which digit did you mean?", list(range(10)), key="intended_digit", on_change=_keep_draft,
                        args=(joined["student"], current))
    already = _already_sent(joined["student"], current)
    st.button("Send to class", key="send_to_class", type="primary", disabled=intended is None or already,
              on_click=_send, args=(joined, current))
    if already:
        st.caption("Sent: your class has this drawing. Draw another digit to send more.")
    flash = st.session_state.pop(_SEND_NOTICE, None)
    if flash:
        st.warning(flash)


def _keep_draft(student: str, current: CurrentInput) -> None:
    """Pills callback: the drawing and the digit chosen are kept in the store before Send is pressed, so a
    server that dies mid-send loses nothing (``restore_draft`` gives them back in the next session)."""
    digit = st.session_state.get("intended_digit")
    drafts = st.session_state.get(_DRAFTS, 0)
    if digit is None or drafts >= MAX_DRAFTS:  # a session tapping digits for ever writes no more
        return
    st.session_state[_DRAFTS] = drafts + 1
    with contextlib.suppress(ClassStoreError, ValueError):  # Send says what is wrong with the store
        classroom.keep_draft(get_store(), student, classroom.image_to_uint8(current.prep.image), int(digit))


def restore_draft(student: str) -> None:
    """In a session that has no drawing yet, the student's last drawing that never reached the class, if any:
    on the page again with its digit chosen, and a sentence saying so."""
    if kept("drawing") is not None:
        return
    try:
        found = classroom.unsent_draft(get_store(), student)
    except ClassStoreError:
        return
    if found is None:
        return
    image, digit = found
    prep = replace(canvas_to_mnist(image), image=image.astype(np.float32) / 255)  # the very pixels, key and all
    keep("drawing", CurrentInput("drawing", prep))
    st.session_state["intended_digit"] = digit
    st.session_state[_NOTICE] = (f"Your last drawing, a {digit}, never reached your class (the server changed "
                                 f"or the page reloaded before it arrived). It is back on the Draw page: press "
                                 f"Send to class to send it, or draw another.")


def _key(student: str, current: CurrentInput) -> str:
    return classroom.send_key(student, classroom.image_to_uint8(current.prep.image))


def _already_sent(student: str, current: CurrentInput) -> bool:
    """Whether the class holds this drawing: known to this session, else asked of the store once per
    drawing (a browser that reconnected to another server after its own died mid-send is told so)."""
    known, key = st.session_state.setdefault(_SENT, {}), _key(student, current)
    if key not in known:
        try:
            known[key] = classroom.sent_drawing_id(get_store(), student, key) is not None
        except ClassStoreError:
            return False  # sending says what is wrong with the store
    return known[key]


def _send(joined: dict, current: CurrentInput) -> None:
    """Button callback: one transaction in the store, once per drawing however often it is pressed;
    a failure leaves the drawing on the canvas and says why."""
    key = _key(joined["student"], current)
    if st.session_state.setdefault(_SENT, {}).get(key):
        return  # a second tap queued behind the first
    try:
        classroom.send_drawing(get_store(), joined["student"], classroom.image_to_uint8(current.prep.image),
                               intended=int(st.session_state["intended_digit"]), **_reading(current),
                               canvas_png=_canvas_png(current), client=client_key(), session_key=session_key(),
                               key=key)
    except RateLimited as err:
        st.session_state[_SEND_NOTICE] = str(err)
        return
    except (ClassStoreError, ValueError, OSError) as err:  # the store, the drawing or the model file
        st.session_state[_SEND_NOTICE] = f"Not sent: {err} Your drawing is still on the canvas."
        return
    st.session_state[_SENT][key] = True


def _reading(current: CurrentInput) -> dict:
    """What the active model read, for the store.

    Raises:
        ValueError: the model gave no probabilities (NaN or infinite outputs).
        OSError: the model's file is gone (deleted or renamed by someone else).
    """
    probs = predictor().probabilities(current.prep.image)
    if not np.isfinite(probs).all():
        raise ValueError("the active model gave no usable probabilities for this drawing (its output is not a "
                         "number), so there is no answer to send. Pick another model in the sidebar.")
    digit = int(np.argmax(probs))
    return {"predicted": digit, "confidence": float(np.clip(probs[digit], 0.0, 1.0)),
            "model_name": active_model_path().stem, "model_digest": _digest()}


def _digest() -> str:
    from server import resources

    path = active_model_path()
    if not path.exists():
        raise FileNotFoundError(f"the model {path.stem} was deleted or renamed a moment ago; pick it again in the "
                                f"sidebar.")
    return resources.digest(path)


def _canvas_png(current: CurrentInput) -> bytes | None:
    """The drawing as the student made it (white ink on black), before it was shrunk to 28x28, as a PNG
    the store accepts: shrunk to MAX_PNG_SIDE and, if still too large in bytes, halved until it fits."""
    ink = Image.fromarray(np.clip(np.asarray(current.prep.ink, np.float64) * 255, 0, 255).astype(np.uint8))
    ink.thumbnail((MAX_PNG_SIDE, MAX_PNG_SIDE))
    for _ in range(4):
        out = io.BytesIO()
        ink.save(out, format="PNG", optimize=True)
        if out.tell() <= MAX_PNG_BYTES:
            return out.getvalue()
        ink = ink.resize((max(1, ink.width // 2), max(1, ink.height // 2)), Image.Resampling.BOX)
    return None  # a photo of noise: the 28x28 input is kept all the same


def _sent_list(joined: dict) -> None:
    try:
        sent = classroom.student_drawings(get_store(), joined["student"])
    except ClassStoreError as err:
        st.caption(plain(err))
        return
    if not sent:
        return
    with st.expander(f"What you sent ({len(sent)})"):
        for record in reversed(sent[-12:]):
            image, text, button = st.columns([1, 3, 2], vertical_alignment="center")
            image.image(record.image, width=56, clamp=True, alt=f"Your drawing of a {record.intended}")
            verdict = "read right" if record.right else f"read as {record.predicted}"
            text.markdown(f"A **{record.intended}**, {verdict} ({sure(record.confidence)})")
            button.button("Withdraw", key=f"withdraw_{record.id}", on_click=_withdraw,
                          args=(joined["student"], record.id))


def _withdraw(student: str, drawing_id: int) -> None:
    st.session_state.pop(_SENT, None)  # the withdrawn drawing may be sent again: ask the store afresh
    try:
        classroom.withdraw(get_store(), student, drawing_id)
    except ClassStoreError as err:
        st.session_state[_SEND_NOTICE] = str(err)


def unavailable_note(err: ClassStoreUnavailable) -> None:
    st.warning(f"The class is unavailable: {plain(err)}", icon=":material/cloud_off:")
