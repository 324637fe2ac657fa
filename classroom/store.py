"""The class store's plain functions: classes, students joining, drawings sent and withdrawn, with
their rate limits. Each call is one transaction (see ``db``); pages never write SQL. Reading a
class back is in ``summary``, the teacher's login in ``teacher``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mnist_model.engine.preprocess import ImageError, check_png_chunks, png_size

from .db import (
    ClassClosed,
    ClassNotFound,
    ClassStoreError,
    Store,
    UnknownStudent,
    record_attempt,
    refuse_if_limited,
    serialize,
    transaction,
)
from .models import (
    CLASS_NAME_CHARS,
    CODE_CHARS,
    MODEL_NAME_CHARS,
    NICKNAME_CHARS,
    SEND_KEY_CHARS,
    Draft,
    Drawing,
    SchoolClass,
    Student,
)

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O or 1/I to mix up on a projector
SEND_LIMIT, SEND_WINDOW_S = 30, 60  # drawings a student, or a browser session, may send per minute
CLIENT_SEND_LIMIT = 150  # drawings per minute from one address: a class behind one school NAT fits
JOIN_LIMIT, JOIN_WINDOW_S = 60, 600  # joins from one address per 10 minutes: a NAT'd class, twice over
CLASS_JOIN_LIMIT, CLASS_JOIN_WINDOW_S = 150, 300  # joins into one class per 5 minutes: a class five times over
LOOKUP_LIMIT, LOOKUP_WINDOW_S = 10, 60  # class codes that do not exist a browser session may try per minute
CLIENT_LOOKUP_LIMIT = 60  # ... and an address: a class behind one school NAT mistyping, several times over
MAX_PNG_BYTES = 1_000_000  # a canvas PNG is tens of kB; this leaves room for large, busy canvases
MAX_PNG_SIDE = 1280  # the 320 px canvas at a device pixel ratio of 4; an upload is shrunk to 1024
MAX_STUDENTS = 500  # per class: a class, not a flood of made-up students
MAX_CLASS_DRAWINGS = 20_000  # per class


@dataclass(frozen=True)
class ClassInfo:
    """A class as pages see it."""

    code: str
    name: str
    created: dt.datetime
    closed: dt.datetime | None  # None while open

    @property
    def is_open(self) -> bool:
        return self.closed is None


def create_class(store: Store, name: str) -> str:
    """Create an open class named ``name`` (cleaned like a nickname, up to 80 characters); return its code."""
    name = clean_text(name, CLASS_NAME_CHARS) or "Class"
    with transaction(store, write=True) as session:
        serialize(session, "class codes")
        code = _new_code(session)
        session.add(SchoolClass(code=code, name=name, created=store.clock()))
    return code


def _new_code(session: Session) -> str:
    while True:  # 32**6 codes: a clash is rare, and the next draw almost surely free
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))
        if session.scalar(select(SchoolClass.id).where(SchoolClass.code == code)) is None:
            return code


def normalize_code(code: str) -> str:
    """A typed or linked class code as stored: spaces dropped, upper case."""
    return "".join(str(code).split()).upper()


def find_class(store: Store, code: str, allow_closed: bool = False, client: str = "",
               session_key: str = "") -> ClassInfo:
    """The class with this code (any case, spaces ignored).

    Args:
        client, session_key: who asks (``clients.rate_key``, a browser session's name), for the
            limit on codes that do not exist; '' for neither (the command line, the teacher).

    Raises:
        ClassNotFound: no class has the code.
        ClassClosed: the class is closed and ``allow_closed`` is False.
        RateLimited: this session tried LOOKUP_LIMIT codes that do not exist in the last minute,
            or its address CLIENT_LOOKUP_LIMIT.
    """
    askers = _askers(client, session_key)
    _refuse_too_many_lookups(store, askers)
    try:
        with transaction(store) as session:
            return _info(_find(session, code, allow_closed))
    except ClassNotFound:
        _count_lookup(store, askers)
        raise


def _askers(client: str, session_key: str) -> list[tuple[str, str, int]]:
    """``(kind, key, limit)`` for each of the asker's counters that a lookup of a wrong code counts in."""
    counted = [("lookup-session", str(session_key)[:128], LOOKUP_LIMIT),
               ("lookup", str(client)[:128], CLIENT_LOOKUP_LIMIT)]
    return [(kind, key, limit) for kind, key, limit in counted if key]


def _refuse_too_many_lookups(store: Store, askers) -> None:
    if not askers:
        return
    with transaction(store) as session:
        now = store.clock()
        for kind, key, limit in askers:
            whose = "This browser" if kind == "lookup-session" else "Your network"
            refuse_if_limited(session, kind, key, now, limit, LOOKUP_WINDOW_S,
                              f"{whose} tried {{n}} class codes that do not exist in the last minute. Check the "
                              f"code with your teacher and try again in {{s}} seconds.")


def _count_lookup(store: Store, askers) -> None:
    if not askers:
        return
    with transaction(store, write=True) as session:
        now = store.clock()
        for kind, key, _ in askers:
            record_attempt(session, kind, key, now, LOOKUP_WINDOW_S)


def list_classes(store: Store) -> list[ClassInfo]:
    """Every class, newest first."""
    with transaction(store) as session:
        rows = session.scalars(select(SchoolClass).order_by(SchoolClass.created.desc(), SchoolClass.id.desc()))
        return [_info(row) for row in rows]


def close_class(store: Store, code: str) -> None:
    """Close a class: nobody can join it or send to it any more; its drawings stay."""
    with transaction(store, write=True) as session:
        row = _find(session, code, allow_closed=True)
        row.closed = row.closed or store.clock()


def _find(session: Session, code: str, allow_closed: bool) -> SchoolClass:
    wanted = normalize_code(code)
    row = session.scalar(select(SchoolClass).where(SchoolClass.code == wanted)) if wanted else None
    if row is None:
        raise ClassNotFound(f"No class has the code {wanted[:20]!r}. A class code is {CODE_CHARS} letters and "
                            f"digits, like 7KQ2MX; check the link or ask your teacher.")
    if not allow_closed:
        _require_open(row)
    return row


def _require_open(row: SchoolClass) -> None:
    if row.closed is not None:
        raise ClassClosed(f"The class {row.name!r} ({row.code}) is closed, so it takes no new students or "
                          f"drawings. You can still draw on your own.")


def _info(row: SchoolClass) -> ClassInfo:
    return ClassInfo(code=row.code, name=row.name, created=row.created, closed=row.closed)


def clean_text(text: object, limit: int) -> str:
    """``text`` without control or format characters, whitespace runs made one space, at most ``limit`` characters.

    The result is plain text: markup in it (``<b>``) is kept as characters, and whoever
    shows it must escape it (``ui.text.plain``).
    """
    kept = "".join(" " if ch.isspace() else ch for ch in str(text)
                   if ch.isspace() or not unicodedata.category(ch).startswith("C"))
    return " ".join(kept.split())[:limit].strip()


def join(store: Store, code: str, nickname: str = "", client: str = "") -> str:
    """Add a student to an open class; return the student's anonymous id (keep it to send and withdraw).

    Args:
        store: the class store.
        code: the class code.
        nickname: optional, cleaned to 40 characters of plain text.
        client: the address joining (``clients.rate_key``); '' counts only the class's limit.

    Raises:
        ClassNotFound, ClassClosed: see ``find_class``.
        RateLimited: JOIN_LIMIT joins from this client, or CLASS_JOIN_LIMIT into this class, lately.
        ClassStoreError: the class already has MAX_STUDENTS students.
    """
    with transaction(store, write=True) as session:
        serialize(session, "joins")
        row = _find(session, code, allow_closed=False)
        now = store.clock()
        _refuse_too_many_joins(session, row, str(client)[:128], now)
        joined = session.scalar(select(func.count()).where(Student.class_id == row.id))
        if joined >= MAX_STUDENTS:
            raise ClassStoreError(f"The class {row.code} is full ({MAX_STUDENTS} students); ask your teacher.")
        student = secrets.token_urlsafe(16)
        session.add(Student(id=student, class_id=row.id, nickname=clean_text(nickname, NICKNAME_CHARS), created=now))
        record_attempt(session, "join-class", row.code, now, CLASS_JOIN_WINDOW_S)
        if client:
            record_attempt(session, "join", str(client)[:128], now, JOIN_WINDOW_S)
    return student


def _refuse_too_many_joins(session: Session, row: SchoolClass, client: str, now: dt.datetime) -> None:
    if client:
        refuse_if_limited(session, "join", client, now, JOIN_LIMIT, JOIN_WINDOW_S,
                          "{n} students joined from your network in the last 10 minutes, the most allowed. "
                          "Try again in {s} seconds, or ask your teacher.")
    refuse_if_limited(session, "join-class", row.code, now, CLASS_JOIN_LIMIT, CLASS_JOIN_WINDOW_S,
                      f"{{n}} students joined the class {row.code} in the last 5 minutes, more than a class does. "
                      f"Try again in {{s}} seconds, or ask your teacher.")


def rejoin(store: Store, code: str, student: str, client: str = "", session_key: str = "") -> tuple[ClassInfo, str]:
    """A student coming back (a reload, a restarted server): their class and nickname.

    Args:
        code: the class code from their link.
        student: the id ``join`` gave them, kept in their link.
        client, session_key: who asks, as for ``find_class``.

    Returns:
        ``(class info, nickname)``.

    Raises:
        ClassNotFound, ClassClosed, RateLimited: see ``find_class``.
        UnknownStudent: no such student in that class.
    """
    askers = _askers(client, session_key)
    _refuse_too_many_lookups(store, askers)
    try:
        with transaction(store) as session:
            row = _find(session, code, allow_closed=False)
            who = _student(session, student)
            if who.class_id != row.id:
                raise UnknownStudent(f"You are not in the class {row.code}; join it from its link.")
            return _info(row), who.nickname
    except (ClassNotFound, UnknownStudent):
        _count_lookup(store, askers)
        raise


def _student(session: Session, student: str) -> Student:
    row = session.get(Student, str(student)[:64])
    if row is None:
        raise UnknownStudent("This class store does not know you (it may have been reset); join the class again.")
    return row


def image_to_uint8(image: np.ndarray) -> np.ndarray:
    """A 28x28 float image in [0, 1] (the network's input) as the uint8 the store keeps."""
    return np.clip(np.rint(np.asarray(image, np.float64) * 255), 0, 255).astype(np.uint8)


def send_key(student: str, image: np.ndarray) -> str:
    """A drawing's key: the same for the same student and the same 28x28 input, on any server.

    A drawing sent twice (two taps queued, or sent again after its server died mid-send and the
    browser reconnected to another) carries the same key, and the store keeps it once.
    """
    pixels = np.ascontiguousarray(image, np.uint8)
    return hashlib.sha256(str(student).encode() + b"\0" + pixels.tobytes()).hexdigest()


def sent_drawing_id(store: Store, student: str, key: str) -> int | None:
    """The id of the student's drawing sent with ``key``, or None when it never arrived."""
    with transaction(store) as session:
        return session.scalar(select(Drawing.id).where(Drawing.send_key == key, Drawing.student_id == str(student)))


def keep_draft(store: Store, student: str, image: np.ndarray, intended: int) -> None:
    """Remember the drawing a student is about to send, with the digit they chose (one per student).

    A server that dies before the send arrives then loses nothing: the student's next session,
    on any server, gets it back from ``unsent_draft``.

    Raises:
        ValueError: the image or the digit is not as ``send_drawing`` takes them.
        UnknownStudent: no student has this id.
    """
    pixels = _checked_drawing(image, intended, intended, 1.0, None)
    with transaction(store, write=True) as session:
        row = _student(session, student)
        draft = session.get(Draft, row.id)
        if draft is None:
            session.add(Draft(student_id=row.id, image=pixels, intended=int(intended), created=store.clock()))
        else:
            draft.image, draft.intended, draft.created = pixels, int(intended), store.clock()


def unsent_draft(store: Store, student: str) -> tuple[np.ndarray, int] | None:
    """The student's last draft and its digit when it never reached the class, else None."""
    with transaction(store) as session:
        draft = session.get(Draft, str(student))
        if draft is None:
            return None
        image = np.frombuffer(draft.image, np.uint8).reshape(28, 28).copy()
        if session.scalar(select(Drawing.id).where(Drawing.send_key == send_key(student, image))) is not None:
            return None
        return image, draft.intended


def send_drawing(store: Store, student: str, image: np.ndarray, *, intended: int, predicted: int,
                 confidence: float, model_name: str = "", model_digest: str = "",
                 canvas_png: bytes | None = None, client: str = "", session_key: str = "",
                 key: str | None = None) -> int:
    """Keep a student's drawing in their class, in one transaction, once; return its id.

    Args:
        store: the class store.
        student: the id ``join`` returned.
        image: the network's 28x28 input as uint8 (see ``image_to_uint8``).
        intended: the digit the student meant, 0-9.
        predicted: the digit the model read, 0-9.
        confidence: the model's probability for ``predicted``, in [0, 1].
        model_name: which model read it (cut to 120 characters).
        model_digest: the SHA-256 of that model's file.
        canvas_png: the canvas as a PNG, at most MAX_PNG_BYTES and MAX_PNG_SIDE on a side.
        client: the sender's address (``clients.rate_key``): counted too, so re-joining resets nothing.
        session_key: the sender's browser session, counted like a student.
        key: the drawing's send key (default ``send_key(student, image)``): a drawing already
            stored with it is not stored again, nor counted; its id is returned.

    Raises:
        ValueError: a digit, the image, the confidence or the PNG is not as described.
        UnknownStudent, ClassClosed: the student or their class cannot take drawings.
        RateLimited: the student or the session sent SEND_LIMIT drawings in the last minute, or
            the address CLIENT_SEND_LIMIT.
        ClassStoreError: the class already holds MAX_CLASS_DRAWINGS drawings.
    """
    pixels = _checked_drawing(image, intended, predicted, confidence, canvas_png)
    key = key or send_key(student, image)
    counted = [("send", str(student)[:64], SEND_LIMIT), ("send-session", str(session_key)[:128], SEND_LIMIT),
               ("send-client", str(client)[:128], CLIENT_SEND_LIMIT)]
    counted = [(kind, key, limit) for kind, key, limit in counted if key]
    with transaction(store, write=True) as session:
        serialize(session, "sends")  # the session's and the address' counts span students
        row = _student(session, student)
        already = session.scalar(select(Drawing.id).where(Drawing.send_key == key))
        if already is not None:
            return already  # the same drawing again: the serialized check above makes this exact
        school_class = session.get(SchoolClass, row.class_id)
        _require_open(school_class)
        now = store.clock()
        for kind, who, limit in counted:
            refuse_if_limited(session, kind, who, now, limit, SEND_WINDOW_S, _SEND_REFUSALS[kind])
        if session.scalar(select(func.count()).where(Drawing.class_id == row.class_id)) >= MAX_CLASS_DRAWINGS:
            raise ClassStoreError(f"The class {school_class.code} is full ({MAX_CLASS_DRAWINGS} drawings).")
        for kind, who, _ in counted:
            record_attempt(session, kind, who, now, SEND_WINDOW_S)
        drawing = Drawing(class_id=row.class_id, student_id=row.id, image=pixels, canvas_png=canvas_png,
                          intended=int(intended), predicted=int(predicted), confidence=float(confidence),
                          model_name=clean_text(model_name, MODEL_NAME_CHARS), model_digest=str(model_digest)[:64],
                          created=now, send_key=str(key)[:SEND_KEY_CHARS])
        session.add(drawing)
        session.flush()
        return drawing.id


_SEND_REFUSALS = {
    "send": "You sent {n} drawings in the last minute, the most anyone may. Try again in {s} seconds.",
    "send-session": "This browser sent {n} drawings in the last minute, the most anyone may. "
                    "Try again in {s} seconds.",
    "send-client": "{n} drawings came from your network in the last minute, the most allowed. "
                   "Try again in {s} seconds.",
}


def _checked_drawing(image, intended, predicted, confidence, canvas_png) -> bytes:
    """The image's bytes, after checking every field of a drawing (the PNG by its header, never decoded)."""
    for name, digit in (("intended", intended), ("predicted", predicted)):
        if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
            raise ValueError(f"{name} must be a digit from 0 to 9, got {digit!r}")
    pixels = np.asarray(image)
    if pixels.shape != (28, 28) or pixels.dtype != np.uint8:
        raise ValueError(f"image must be 28x28 uint8 (see image_to_uint8), got {pixels.shape} {pixels.dtype}")
    if not isinstance(confidence, (float, int, np.floating)) or not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be a probability between 0 and 1, got {confidence!r}")
    if canvas_png is not None:
        _check_png(canvas_png)
    return pixels.tobytes()


def _check_png(canvas_png: object) -> None:
    if not isinstance(canvas_png, bytes):
        raise ValueError("canvas_png must be the bytes of a PNG file")
    if len(canvas_png) > MAX_PNG_BYTES:
        raise ValueError(f"canvas_png is {len(canvas_png):,} bytes; at most {MAX_PNG_BYTES:,} are accepted")
    try:
        width, height = png_size(canvas_png)
    except ImageError as err:
        raise ValueError(f"canvas_png must be the bytes of a PNG file: {err}") from err
    if max(width, height) > MAX_PNG_SIDE:
        raise ValueError(f"canvas_png is {width}x{height} pixels; at most {MAX_PNG_SIDE}x{MAX_PNG_SIDE} are accepted")
    try:
        check_png_chunks(canvas_png)  # the dashboard decodes it: no flood of chunks, 8 bits per channel
    except ImageError as err:
        raise ValueError(f"canvas_png is refused: {err}") from err


def withdraw(store: Store, student: str, drawing_id: int) -> None:
    """Delete one of the student's own drawings, for good.

    Raises:
        UnknownStudent: no student has this id.
        ClassStoreError: the student has no drawing with this id.
    """
    with transaction(store, write=True) as session:
        row = _student(session, student)
        gone = session.execute(delete(Drawing).where(Drawing.id == int(drawing_id), Drawing.student_id == row.id))
        if gone.rowcount != 1:
            raise ClassStoreError(f"You have no drawing number {drawing_id} (already withdrawn?).")
        session.execute(delete(Draft).where(Draft.student_id == row.id))  # withdrawn is not "never arrived"
