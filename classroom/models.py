"""The class store's schema: classes, students, their drawings and drafts, rate-limit attempts, job leases, secrets.

Times are stored as naive UTC (SQLite keeps no time zone) and come back as aware UTC.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

CODE_CHARS = 6  # a class code's length
NICKNAME_CHARS = 40  # the longest nickname kept
CLASS_NAME_CHARS = 80  # the longest class name kept
MODEL_NAME_CHARS = 120  # the longest model name kept with a drawing
STUDENT_ID_CHARS = 32  # room for the anonymous id, a random URL-safe token
SEND_KEY_CHARS = 64  # a drawing's send key: hex SHA-256 (see store.send_key)


class UtcDateTime(TypeDecorator):
    """A timestamp written as naive UTC and read back as aware UTC, the same on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamps must carry a time zone, got {value!r}")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UtcDateTime}


class SchoolClass(Base):
    """A class: the teacher creates it, students join it with its code, the teacher closes it."""

    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_CHARS), unique=True)
    name: Mapped[str] = mapped_column(String(CLASS_NAME_CHARS))
    created: Mapped[dt.datetime]
    closed: Mapped[dt.datetime | None]  # None while the class is open


class Student(Base):
    """A student of one class, known only by a random id and an optional nickname."""

    __tablename__ = "students"

    id: Mapped[str] = mapped_column(String(STUDENT_ID_CHARS), primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    nickname: Mapped[str] = mapped_column(String(NICKNAME_CHARS), default="")
    created: Mapped[dt.datetime]


class Drawing(Base):
    """One digit a student sent; withdrawing it deletes the row."""

    __tablename__ = "drawings"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"), index=True)
    image: Mapped[bytes] = mapped_column(LargeBinary)  # 28x28 uint8, row by row: the network's input
    canvas_png: Mapped[bytes | None] = mapped_column(LargeBinary)  # what the student drew, as drawn
    intended: Mapped[int]  # the digit the student meant
    predicted: Mapped[int]  # the digit the model read
    confidence: Mapped[float]  # the model's probability for ``predicted``
    model_name: Mapped[str] = mapped_column(String(MODEL_NAME_CHARS))
    model_digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the model file
    created: Mapped[dt.datetime]
    # the same drawing sent again (two taps, a retry after a server died) finds this and is not stored twice
    send_key: Mapped[str | None] = mapped_column(String(SEND_KEY_CHARS), unique=True)


class Draft(Base):
    """The drawing a student is about to send (their digit chosen), one per student: if their server dies
    before the send arrives, their next session gets it back (``store.unsent_draft``)."""

    __tablename__ = "drafts"

    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"), primary_key=True)
    image: Mapped[bytes] = mapped_column(LargeBinary)  # 28x28 uint8, as a drawing keeps it
    intended: Mapped[int]
    created: Mapped[dt.datetime]


class Attempt(Base):
    """One counted action (a drawing sent, a wrong teacher password) for rate limits."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_kind_key_at", "kind", "key", "at"), Index("ix_attempts_kind_at", "kind", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "send", "join", "password", ... (see store and teacher)
    key: Mapped[str] = mapped_column(String(128))  # whose attempts: a student, session, address or class
    at: Mapped[dt.datetime]


class JobLease(Base):
    """Who runs the store's training job, until when, and its last reported state (JSON)."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires: Mapped[dt.datetime]
    state: Mapped[str] = mapped_column(Text, default="{}")


class ServerSecret(Base):
    """A random secret every server of this store shares, e.g. the key that signs teacher logins."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))  # hex
