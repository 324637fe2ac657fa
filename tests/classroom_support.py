"""Fixtures for the class store's tests: every test runs against SQLite and PostgreSQL.

PostgreSQL (Debian's ``postgresql`` package) is started once per test session in a
temporary folder, on a free port, as the ``postgres`` user when the tests run as root
(PostgreSQL refuses to run as root); each test gets a fresh schema in it. Test modules
load this file with ``pytest_plugins = ["classroom_support"]``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from classroom import connect

BACKENDS = ("sqlite", "postgresql")
_schema_numbers = itertools.count()
_drawing_numbers = itertools.count(1)


def new_drawing(image=None) -> np.ndarray:
    """``image`` (default: blank paper) with a mark in its bottom row that no other call makes.

    The store keeps a drawing once (a student's same pixels are the same drawing, however
    often they are sent), so tests that send several drawings send different ones.
    """
    drawing = np.zeros((28, 28), np.uint8) if image is None else np.array(image, np.uint8)
    n = next(_drawing_numbers)
    drawing[27, :3] = n % 256, n // 256 % 256, n // 65536 % 256
    return drawing


class FakeClock:
    """The time a store sees, moved by hand: rate limits and leases without sleeping."""

    def __init__(self):
        self.now = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL programs; a failure (never a skip) when they are missing."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed, so the class store cannot be tested against it. Install "
                    "Debian's postgresql package (apt-get install postgresql; .ci/run does).", pytrace=False)
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server():
    """A PostgreSQL server in a temporary folder for as long as the block runs; yields its URL."""
    programs = postgres_bin()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="classroom-pg-"))  # under /tmp: pytest's own folders are root-only
    if as_postgres:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", _free_port()

    def run(*cmd) -> None:
        done = subprocess.run([*as_postgres, *map(str, cmd)], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{Path(cmd[0]).name} failed ({done.returncode}): {done.stderr.strip()}")

    try:
        run(programs / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        run(programs / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "start", "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off")
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(programs / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_postgres_schema(server_url: str) -> str:
    """The URL of a new, empty schema on the test server (much quicker to make than a database)."""
    name = f"classroom_{os.getpid()}_{next(_schema_numbers)}"
    engine = create_engine(server_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    url = make_url(server_url).update_query_dict({"options": f"-csearch_path={name}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """An empty class store's URL: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'classroom.db'}"
    return fresh_postgres_schema(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(db_url, clock):
    """An open, empty class store on each backend, with a clock the test moves."""
    opened = connect(db_url, clock=clock)
    yield opened
    opened.close()
