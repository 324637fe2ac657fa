"""Reading a class back: its drawings, the dashboard's summary, the export's public student numbers,
and whether a class is running. Each call is one read-only transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from .db import ClassStoreError, Store, transaction
from .models import Drawing, SchoolClass, Student
from .store import ClassInfo, _find, _info, _student

UNSURE = 0.8  # a right answer with less confidence than this counts as hard
HARDEST_SHOWN = 12  # drawings in a summary's "hardest" list
RUNNING_S = 2 * 3600  # an open class counts as running this long after its last join or drawing


@dataclass(frozen=True, eq=False)  # holds an array: compare ids, not records
class DrawingRecord:
    """A drawing as sent: the network's 28x28 input and what the model made of it."""

    id: int
    student: str  # the anonymous student id: a bearer secret (it withdraws drawings), never shown or exported
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

    @property
    def writer(self) -> str:
        """Who drew it, as well as the store can tell: ``writer_key`` of the student and nickname."""
        return writer_key(self.student, self.nickname)


def writer_key(student: str, nickname: str) -> str:
    """One person, as well as the store can tell: students with the same nickname (any case) count as
    one, since one person on two devices joins twice; students without a nickname count one each."""
    return f"nickname:{nickname.casefold()}" if nickname else f"student:{student}"


@dataclass(frozen=True, eq=False)
class ClassSummary:
    """What the teacher's dashboard shows."""

    info: ClassInfo
    n_joined: int  # students who joined
    n_students: int  # students who sent at least one drawing
    n_writers: int  # of those, how many people (``writer_key``): the fine-tune splits by them
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


def student_drawings(store: Store, student: str) -> list[DrawingRecord]:
    """The student's drawings, in the order sent."""
    with transaction(store) as session:
        row = _student(session, student)
        return _records(session, Drawing.student_id == row.id)


def class_drawings(store: Store, code: str, intended: int | None = None, predicted: int | None = None,
                   last: int | None = None) -> list[DrawingRecord]:
    """A class's drawings in the order sent, optionally one cell of the confusion matrix or the ``last`` few."""
    with transaction(store) as session:
        row = _find(session, code, allow_closed=True)
        where = [Drawing.class_id == row.id]
        if intended is not None:
            where.append(Drawing.intended == int(intended))
        if predicted is not None:
            where.append(Drawing.predicted == int(predicted))
        if last is not None:
            newest = select(Drawing.id).where(*where).order_by(Drawing.id.desc()).limit(max(0, int(last)))
            where.append(Drawing.id.in_(newest.scalar_subquery()))
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


def student_numbers(store: Store, code: str) -> dict[str, int]:
    """Each student's public number in a class, 1 for the first to join: safe to export and show.

    The student id itself is a bearer secret (whoever has it can withdraw that student's drawings).
    """
    with transaction(store) as session:
        row = _find(session, code, allow_closed=True)
        ids = session.scalars(select(Student.id).where(Student.class_id == row.id)
                              .order_by(Student.created, Student.id)).all()
    return {student: number for number, student in enumerate(ids, start=1)}


def class_summary(store: Store, code: str) -> ClassSummary:
    """Counts per digit, the confusion matrix and the hardest drawings of a class (open or closed)."""
    with transaction(store) as session:
        row = _find(session, code, allow_closed=True)
        cells = session.execute(select(Drawing.id, Drawing.intended, Drawing.predicted, Drawing.confidence,
                                       Drawing.student_id, Student.nickname).join(Student)
                                .where(Drawing.class_id == row.id)).all()
        joined = session.scalar(select(func.count()).where(Student.class_id == row.id))
        confusion = np.zeros((10, 10), np.int64)
        for _, intended, predicted, *_ in cells:
            confusion[intended, predicted] += 1
        ids = _hardest_ids(cells)
        hardest = _records(session, Drawing.id.in_(ids)) if ids else []
    rank = {drawing_id: i for i, drawing_id in enumerate(ids)}
    return ClassSummary(info=_info(row), n_joined=joined, n_students=len({c[4] for c in cells}),
                        n_writers=len({writer_key(c[4], c[5]) for c in cells}),
                        counts=confusion.sum(axis=1), confusion=confusion,
                        hardest=sorted(hardest, key=lambda d: rank[d.id]))


def _hardest_ids(cells) -> list[int]:
    """Wrong drawings, most confident first, then right but unsure ones, least sure first."""
    wrong = sorted((c for c in cells if c[1] != c[2]), key=lambda c: -c[3])
    unsure = sorted((c for c in cells if c[1] == c[2] and c[3] < UNSURE), key=lambda c: c[3])
    return [c[0] for c in (wrong + unsure)[:HARDEST_SHOWN]]


def running_class(store: Store, within_s: float = RUNNING_S) -> ClassInfo | None:
    """The open class a student joined or sent to most recently, if that was in the last ``within_s`` seconds:
    a lesson is on, so only its teacher trains or changes shared models. None when no class is running (a
    class nobody has joined yet is not running: nobody is there to be kept from anything)."""
    since = store.clock() - dt.timedelta(seconds=within_s)
    joined = select(Student.class_id.label("class_id"), Student.created.label("at")).where(Student.created > since)
    sent = select(Drawing.class_id.label("class_id"), Drawing.created.label("at")).where(Drawing.created > since)
    active = joined.union_all(sent).subquery()
    with transaction(store) as session:
        row = session.execute(select(SchoolClass).join(active, active.c.class_id == SchoolClass.id)
                              .where(SchoolClass.closed.is_(None))
                              .order_by(active.c.at.desc()).limit(1)).scalars().first()
        return None if row is None else _info(row)
