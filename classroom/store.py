"""The class store's plain functions: classes, students, their drawings, the dashboard's summary,
the teacher's password. Each call is one transaction (see ``db``); pages never write SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, defer

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
from .models import CLASS_NAME_CHARS, CODE_CHARS, MODEL_NAME_CHARS, NICKNAME_CHARS, Drawing, SchoolClass, Student

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O or 1/I to mix up on a projector
SEND_LIMIT, SEND_WINDOW_S = 30, 60  # drawings a student may send per minute
PASSWORD_LIMIT, PASSWORD_WINDOW_S = 5, 60  # wrong teacher passwords a client may try per minute
MAX_PNG_BYTES = 1_000_000  # a canvas PNG is tens of kB; this leaves room for large, busy canvases
MAX_STUDENTS = 500  # per class: a class, not a flood of made-up students
MAX_CLASS_DRAWINGS = 20_000  # per class
UNSURE = 0.8  # a right answer with less confidence than this counts as hard
HARDEST_SHOWN = 12  # drawings in a summary's "hardest" list
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


@dataclass(frozen=True, eq=False)  # holds an array: compare ids, not records
class DrawingRecord:
    """A drawing as sent: the network's 28x28 input and what the model made of it."""

    id: int
    student: str  # the anonymous student id
    nickname: str  # as the student typed it, cleaned; plain text, never HTML
    image: np.ndarray  # 28x28 uint8
    intended: int
    predicted: int
    confidence: float
    model_name: str
    model_digest: str
    created: dt.datetime
    canvas_png: bytes | None = None  # only when asked for (``drawing(..., with_png=True)``)

    @property
    def right(self) -> bool:
        return self.predicted == self.intended


@dataclass(frozen=True, eq=False)
class ClassSummary:
    """What the teacher's dashboard shows."""

    info: ClassInfo
    n_joined: int  # students who joined
    n_students: int  # students who sent at least one drawing
    counts: np.ndarray  # drawings per intended digit, (10,)
    confusion: np.ndarray  # (10, 10): rows the intended digit, columns the predicted one
    hardest: list[DrawingRecord]  # wrong (most confident first), then right but unsure (least sure first)

    @property
    def n_drawings(self) -> int:
        return int(self.counts.sum())

    @property
    def accuracy(self) -> float | None:
        return float(np.trace(self.confusion) / self.n_drawings) if self.n_drawings else None

    @property
    def digit_accuracy(self) -> np.ndarray:
        """Per intended digit, the share read right; NaN for a digit nobody drew."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / self.counts


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


def find_class(store: Store, code: str, allow_closed: bool = False) -> ClassInfo:
    """The class with this code (any case, spaces ignored).

    Raises:
        ClassNotFound: no class has the code.
        ClassClosed: the class is closed and ``allow_closed`` is False.
    """
    with transaction(store) as session:
        return _info(_find(session, code, allow_closed))


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


def join(store: Store, code: str, nickname: str = "") -> str:
    """Add a student to an open class; return the student's anonymous id (keep it to send and withdraw).

    Raises:
        ClassNotFound, ClassClosed: see ``find_class``.
        ClassStoreError: the class already has MAX_STUDENTS students.
    """
    with transaction(store, write=True) as session:
        row = _find(session, code, allow_closed=False)
        joined = session.scalar(select(func.count()).where(Student.class_id == row.id))
        if joined >= MAX_STUDENTS:
            raise ClassStoreError(f"The class {row.code} is full ({MAX_STUDENTS} students); ask your teacher.")
        student = secrets.token_urlsafe(16)
        session.add(Student(id=student, class_id=row.id, nickname=clean_text(nickname, NICKNAME_CHARS),
                            created=store.clock()))
    return student


def rejoin(store: Store, code: str, student: str) -> tuple[ClassInfo, str]:
    """A student coming back (a reload, a restarted server): their class and nickname.

    Args:
        code: the class code from their link.
        student: the id ``join`` gave them, kept in their link.

    Returns:
        ``(class info, nickname)``.

    Raises:
        ClassNotFound, ClassClosed: see ``find_class``.
        UnknownStudent: no such student in that class.
    """
    with transaction(store) as session:
        row = _find(session, code, allow_closed=False)
        who = _student(session, student)
        if who.class_id != row.id:
            raise UnknownStudent(f"You are not in the class {row.code}; join it from its link.")
        return _info(row), who.nickname


def _student(session: Session, student: str) -> Student:
    row = session.get(Student, str(student)[:64])
    if row is None:
        raise UnknownStudent("This class store does not know you (it may have been reset); join the class again.")
    return row


def image_to_uint8(image: np.ndarray) -> np.ndarray:
    """A 28x28 float image in [0, 1] (the network's input) as the uint8 the store keeps."""
    return np.clip(np.rint(np.asarray(image, np.float64) * 255), 0, 255).astype(np.uint8)


def send_drawing(store: Store, student: str, image: np.ndarray, *, intended: int, predicted: int,
                 confidence: float, model_name: str = "", model_digest: str = "",
                 canvas_png: bytes | None = None) -> int:
    """Keep a student's drawing in their class, in one transaction; return its id.

    Args:
        store: the class store.
        student: the id ``join`` returned.
        image: the network's 28x28 input as uint8 (see ``image_to_uint8``).
        intended: the digit the student meant, 0-9.
        predicted: the digit the model read, 0-9.
        confidence: the model's probability for ``predicted``, in [0, 1].
        model_name: which model read it (cut to 120 characters).
        model_digest: the SHA-256 of that model's file.
        canvas_png: the canvas as a PNG, at most MAX_PNG_BYTES.

    Raises:
        ValueError: a digit, the image, the confidence or the PNG is not as described.
        UnknownStudent, ClassClosed: the student or their class cannot take drawings.
        RateLimited: the student sent SEND_LIMIT drawings in the last minute.
        ClassStoreError: the class already holds MAX_CLASS_DRAWINGS drawings.
    """
    pixels = _checked_drawing(image, intended, predicted, confidence, canvas_png)
    with transaction(store, write=True) as session:
        serialize(session, f"send:{student}")
        row = _student(session, student)
        school_class = session.get(SchoolClass, row.class_id)
        _require_open(school_class)
        now = store.clock()
        refuse_if_limited(session, "send", row.id, now, SEND_LIMIT, SEND_WINDOW_S,
                          "You sent {n} drawings in the last minute, the most anyone may. "
                          "Try again in {s} seconds.")
        if session.scalar(select(func.count()).where(Drawing.class_id == row.class_id)) >= MAX_CLASS_DRAWINGS:
            raise ClassStoreError(f"The class {school_class.code} is full ({MAX_CLASS_DRAWINGS} drawings).")
        record_attempt(session, "send", row.id, now, SEND_WINDOW_S)
        drawing = Drawing(class_id=row.class_id, student_id=row.id, image=pixels, canvas_png=canvas_png,
                          intended=int(intended), predicted=int(predicted), confidence=float(confidence),
                          model_name=clean_text(model_name, MODEL_NAME_CHARS), model_digest=str(model_digest)[:64],
                          created=now)
        session.add(drawing)
        session.flush()
        return drawing.id


def _checked_drawing(image, intended, predicted, confidence, canvas_png) -> bytes:
    """The image's bytes, after checking every field of a drawing."""
    for name, digit in (("intended", intended), ("predicted", predicted)):
        if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
            raise ValueError(f"{name} must be a digit from 0 to 9, got {digit!r}")
    pixels = np.asarray(image)
    if pixels.shape != (28, 28) or pixels.dtype != np.uint8:
        raise ValueError(f"image must be 28x28 uint8 (see image_to_uint8), got {pixels.shape} {pixels.dtype}")
    if not isinstance(confidence, (float, int, np.floating)) or not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be a probability between 0 and 1, got {confidence!r}")
    if canvas_png is not None:
        if not isinstance(canvas_png, bytes) or not canvas_png.startswith(_PNG_SIGNATURE):
            raise ValueError("canvas_png must be the bytes of a PNG file")
        if len(canvas_png) > MAX_PNG_BYTES:
            raise ValueError(f"canvas_png is {len(canvas_png):,} bytes; at most {MAX_PNG_BYTES:,} are accepted")
    return pixels.tobytes()


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


def student_drawings(store: Store, student: str) -> list[DrawingRecord]:
    """The student's drawings, in the order sent."""
    with transaction(store) as session:
        row = _student(session, student)
        return _records(session, Drawing.student_id == row.id)


def class_drawings(store: Store, code: str, intended: int | None = None,
                   predicted: int | None = None) -> list[DrawingRecord]:
    """A class's drawings in the order sent, optionally only one cell of the confusion matrix."""
    with transaction(store) as session:
        row = _find(session, code, allow_closed=True)
        where = [Drawing.class_id == row.id]
        if intended is not None:
            where.append(Drawing.intended == int(intended))
        if predicted is not None:
            where.append(Drawing.predicted == int(predicted))
        return _records(session, *where)


def drawing(store: Store, drawing_id: int, with_png: bool = False) -> DrawingRecord:
    """One drawing by id, with its canvas PNG if asked (a full-screen view).

    Raises:
        ClassStoreError: no drawing has this id.
    """
    with transaction(store) as session:
        found = _records(session, Drawing.id == int(drawing_id), with_png=with_png)
    if not found:
        raise ClassStoreError(f"There is no drawing number {drawing_id} (withdrawn?).")
    return found[0]


def _records(session: Session, *where, with_png: bool = False) -> list[DrawingRecord]:
    query = select(Drawing, Student.nickname).join(Student).where(*where).order_by(Drawing.id)
    if not with_png:
        query = query.options(defer(Drawing.canvas_png))  # lists stay light: a PNG is up to 1 MB
    return [DrawingRecord(id=d.id, student=d.student_id, nickname=nickname,
                          image=np.frombuffer(d.image, np.uint8).reshape(28, 28), intended=d.intended,
                          predicted=d.predicted, confidence=d.confidence, model_name=d.model_name,
                          model_digest=d.model_digest, created=d.created,
                          canvas_png=d.canvas_png if with_png else None)
            for d, nickname in session.execute(query)]


def class_summary(store: Store, code: str) -> ClassSummary:
    """Counts per digit, the confusion matrix and the hardest drawings of a class (open or closed)."""
    with transaction(store) as session:
        row = _find(session, code, allow_closed=True)
        cells = session.execute(select(Drawing.id, Drawing.intended, Drawing.predicted, Drawing.confidence,
                                       Drawing.student_id).where(Drawing.class_id == row.id)).all()
        joined = session.scalar(select(func.count()).where(Student.class_id == row.id))
        confusion = np.zeros((10, 10), np.int64)
        for _, intended, predicted, _, _ in cells:
            confusion[intended, predicted] += 1
        ids = _hardest_ids(cells)
        hardest = _records(session, Drawing.id.in_(ids)) if ids else []
    rank = {drawing_id: i for i, drawing_id in enumerate(ids)}
    return ClassSummary(info=_info(row), n_joined=joined, n_students=len({c[4] for c in cells}),
                        counts=confusion.sum(axis=1), confusion=confusion,
                        hardest=sorted(hardest, key=lambda d: rank[d.id]))


def _hardest_ids(cells) -> list[int]:
    """Wrong drawings, most confident first, then right but unsure ones, least sure first."""
    wrong = sorted((c for c in cells if c[1] != c[2]), key=lambda c: -c[3])
    unsure = sorted((c for c in cells if c[1] == c[2] and c[3] < UNSURE), key=lambda c: c[3])
    return [c[0] for c in (wrong + unsure)[:HARDEST_SHOWN]]


def check_teacher_password(store: Store, given: str, configured: str, client_key: str) -> bool:
    """Whether ``given`` is the teacher password, compared in constant time.

    Wrong answers are counted per ``client_key`` (say, the browser session or address) in
    the store, so every server process sees them; after PASSWORD_LIMIT in a minute the
    client must wait, whatever it types.

    Raises:
        ValueError: no password is configured (the teacher page stays closed).
        RateLimited: this client gave PASSWORD_LIMIT wrong passwords in the last minute.
    """
    if not configured:
        raise ValueError("No teacher password is configured on this server.")
    key = str(client_key)[:128]
    with transaction(store, write=True) as session:
        serialize(session, f"password:{key}")
        now = store.clock()
        refuse_if_limited(session, "password", key, now, PASSWORD_LIMIT, PASSWORD_WINDOW_S,
                          "{n} wrong passwords in the last minute. Wait {s} seconds before trying again.")
        # hashing first makes the comparison's time independent of both lengths
        right = hmac.compare_digest(hashlib.sha256(str(given).encode()).digest(),
                                    hashlib.sha256(str(configured).encode()).digest())
        if not right:
            record_attempt(session, "password", key, now, PASSWORD_WINDOW_S)
    return right
