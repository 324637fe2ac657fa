"""Opening the class store and running transactions on it, the same way on SQLite and PostgreSQL.

Writes that must not race between processes (a student's rate limit, a client's password
attempts, the training lease) run one at a time: SQLite's write transactions begin
IMMEDIATE, so they exclude every other writer; on PostgreSQL they take a
transaction-scoped advisory lock (``serialize``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, delete, event, func, inspect, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from .models import Attempt, Base

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = PROJECT_ROOT / "classroom.db"  # beside app.py: nothing to install
ENV_VAR = "CONVNET_LAB_DB"  # a SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db
BUSY_TIMEOUT_S = 15  # how long SQLite waits for another process' write before giving up
CONNECT_TIMEOUT_S = 10  # how long a PostgreSQL connection may take before the store counts as unavailable
_WRITE = "classroom_write"  # execution option: this transaction writes


class ClassStoreError(Exception):
    """Something a person can act on went wrong; the message says what and what to do."""


class ClassStoreUnavailable(ClassStoreError):
    """The database cannot be opened, read or written; drawing and predicting still work."""


class ClassNotFound(ClassStoreError):
    """No class has this code."""


class ClassClosed(ClassStoreError):
    """The class exists but its teacher closed it."""


class UnknownStudent(ClassStoreError):
    """No student has this id (the store was reset, or the id was made up)."""


class RateLimited(ClassStoreError):
    """Too many attempts in a short time; ``retry_after`` says how many seconds to wait."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Store:
    """An open class store. ``clock`` gives the time rate limits and leases are measured by."""

    engine: Engine
    clock: Callable[[], dt.datetime] = utc_now
    writer: Engine = field(init=False)  # the same pool, for transactions that write

    def __post_init__(self):
        object.__setattr__(self, "writer", self.engine.execution_options(**{_WRITE: True}))

    @property
    def url(self) -> str:
        """The database URL without its password, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()


def default_url() -> str:
    """``$CONVNET_LAB_DB``, else the SQLite file ``classroom.db`` in the project folder."""
    return os.environ.get(ENV_VAR) or f"sqlite:///{DEFAULT_DB}"


def connect(url: str | None = None, clock: Callable[[], dt.datetime] = utc_now) -> Store:
    """Open the class store, creating its tables the first time.

    Args:
        url: a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://...``);
            defaults to ``default_url()``.
        clock: the current time, aware; tests pass a fake one.

    Returns:
        The store, to pass to every other function. Safe to share between threads.

    Raises:
        ClassStoreUnavailable: the URL is malformed, the SQLite folder is missing, or the
            database cannot be reached or written.
    """
    url = url or default_url()
    try:
        engine = _engine(url)
    except (sa_exc.ArgumentError, ImportError) as err:
        raise ClassStoreUnavailable(f"The class store setting {ENV_VAR} is not a database URL this app "
                                    f"can use ({err}). Use sqlite:///path.db or postgresql+psycopg://...") from err
    store = Store(engine, clock)
    with transaction(store) as session:  # reading first lets a read-only store open, for looking only
        missing = _missing(session)
    if missing:
        with transaction(store, write=True) as session:
            serialize(session, "schema")  # two servers starting at once must not both create the tables
            Base.metadata.create_all(session.connection())
            _add_columns(session, _missing(session))
    return store


def _missing(session: Session) -> set[tuple[str, str]]:
    """The schema's tables ("table", "") and columns ("table", "column") the database lacks."""
    found = inspect(session.connection())
    tables = set(found.get_table_names())
    missing = {(name, "") for name in Base.metadata.tables if name not in tables}
    for name, table in Base.metadata.tables.items():
        if name in tables:
            have = {column["name"] for column in found.get_columns(name)}
            missing |= {(name, column.name) for column in table.columns if column.name not in have}
    return missing


def _add_columns(session: Session, missing: set[tuple[str, str]]) -> None:
    """Add the columns a store made by an older version lacks (each nullable, with its unique index)."""
    connection = session.connection()
    for name, column_name in sorted(missing):
        if not column_name:
            continue
        column = Base.metadata.tables[name].columns[column_name]
        kind = column.type.compile(dialect=connection.dialect)
        connection.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN {column_name} {kind}")
        if column.unique:
            connection.exec_driver_sql(f"CREATE UNIQUE INDEX uq_{name}_{column_name} ON {name} ({column_name})")


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # fail fast when the server is down; pre-ping replaces connections a database restart broke
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    _check_sqlite_folder(parsed.database)
    engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_connected)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _check_sqlite_folder(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    folder = Path(database).resolve().parent
    if not folder.is_dir():
        raise ClassStoreUnavailable(f"The class store cannot be opened: the folder {folder} does not exist. "
                                    f"Create it, or point {ENV_VAR} at another database.")


def _sqlite_connected(dbapi_connection, record) -> None:
    dbapi_connection.isolation_level = None  # sqlite3 must not BEGIN on its own: _sqlite_begin does
    cursor = dbapi_connection.cursor()
    _use_wal(cursor)  # readers never wait for the writer, so processes can share the file
    cursor.execute("PRAGMA synchronous=FULL")  # a sent drawing survives a power cut, not only a restart
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _use_wal(cursor) -> None:
    """Switch the file to WAL (once: the mode is kept in the file), retrying while another connection does.

    Switching takes the file's exclusive lock from a shared one. When several processes open a
    new store at once, each holds its shared lock and asks for the exclusive one; SQLite
    answers all but one "database is locked" at once, without waiting (waiting would deadlock),
    so the busy timeout never helps: the loser retries after the winner is done.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


def _sqlite_begin(conn) -> None:
    # IMMEDIATE takes the write lock up front, so a read-then-write transaction cannot be
    # overtaken by another process between its read and its write
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


@contextlib.contextmanager
def transaction(store: Store, write: bool = False) -> Iterator[Session]:
    """One transaction, committed at the end; database failures become ClassStoreUnavailable."""
    try:
        with Session(store.writer if write else store.engine, expire_on_commit=False) as session, session.begin():
            yield session
    except sa_exc.DBAPIError as err:
        if isinstance(err, (sa_exc.IntegrityError, sa_exc.ProgrammingError, sa_exc.DataError)):
            raise  # a bug or a broken invariant, not an outage
        raise ClassStoreUnavailable(_explain(err)) from err


def _explain(err: sa_exc.DBAPIError) -> str:
    reason = str(err.orig).strip().splitlines()[0] if err.orig else type(err).__name__
    if "readonly" in reason or "read-only" in reason:
        return ("The class store is read-only, so nothing can be sent or changed. Drawing and predicting "
                "still work; ask whoever runs the server to make the database writable.")
    if "locked" in reason:
        return "The class store is busy; try again in a moment."
    return (f"The class store is unavailable ({reason}). Drawing and predicting still work; "
            f"try again later or ask whoever runs the server.")


def serialize(session: Session, topic: str) -> None:
    """Run transactions about ``topic`` one at a time across processes (until this one ends)."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(topic.encode()).digest()[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(key)))
    # SQLite: a write transaction began IMMEDIATE and already excludes every other writer


def refuse_if_limited(session: Session, kind: str, key: str, now: dt.datetime, limit: int, window_s: float,
                      message: str) -> None:
    """Raise RateLimited when ``key`` made ``limit`` ``kind`` attempts in the last ``window_s`` seconds.

    ``message`` may use ``{n}`` (attempts counted) and ``{s}`` (seconds to wait). The caller
    serializes on ``key`` until it has recorded the attempt, so two processes cannot both
    take the last place.
    """
    found = limited(session, kind, key, now, limit, window_s)
    if found is not None:
        n, wait = found
        raise RateLimited(message.format(n=n, s=wait), retry_after=wait)


def limited(session: Session, kind: str, key: str | None, now: dt.datetime, limit: int,
            window_s: float) -> tuple[int, int] | None:
    """``(attempts counted, seconds to wait)`` when ``key`` (None: everyone) made ``limit`` ``kind``
    attempts in the last ``window_s`` seconds; None while there is room."""
    since = now - dt.timedelta(seconds=window_s)
    query = select(Attempt.at).where(Attempt.kind == kind, Attempt.at > since)
    if key is not None:
        query = query.where(Attempt.key == key)
    recent = session.scalars(query.order_by(Attempt.at)).all()
    if len(recent) < limit:
        return None
    # one place frees up when the oldest of the last ``limit`` attempts leaves the window
    return len(recent), max(1, math.ceil((recent[-limit] - since).total_seconds()))


def record_attempt(session: Session, kind: str, key: str, now: dt.datetime, window_s: float) -> None:
    """Count one ``kind`` attempt for ``key``; attempts older than the window are dropped, nobody counts them."""
    session.execute(delete(Attempt).where(Attempt.kind == kind, Attempt.at <= now - dt.timedelta(seconds=window_s)))
    session.add(Attempt(kind=kind, key=key, at=now))
