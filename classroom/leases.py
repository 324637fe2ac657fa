"""One training job per class store, even with several server processes: a lease row with an expiry.

A job takes the lease before it starts, renews it while it runs (reporting its progress
for every process' pages to show) and releases it at the end, also when its server is
stopped (``release_all``). An owner id names the process that holds the lease
(``owner_id``): a lease whose process is gone from this machine is taken over at once;
one held on another machine lapses ``ttl`` seconds after its last renewal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete

from .db import Store, serialize, transaction
from .models import JobLease

TRAINING_LEASE = "training"  # the one job a store runs at a time
JOB_NAMES = {"training": "a training", "finetune": "a class fine-tune"}  # an owner id's kind, for people


def _process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot), or "" when it does not exist: with the
    pid, it names one process even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]  # field 22, counted after the command name


def owner_id(kind: str, pid: int | None = None) -> str:
    """A lease owner's id: ``kind:host:pid:start:random`` for the process ``pid`` (default: this one)."""
    pid = os.getpid() if pid is None else pid
    return f"{kind}:{socket.gethostname()}:{pid}:{_process_start(pid)}:{uuid.uuid4().hex[:8]}"


def owner_gone(owner: str) -> bool:
    """True when ``owner`` names a process on this machine that no longer runs. An owner on another
    machine, or in an older format, is never known to be gone: its lease lapses by its expiry."""
    parts = owner.split(":")
    if len(parts) != 5 or parts[1] != socket.gethostname() or not parts[2].isascii() or not parts[2].isdigit():
        return False
    return _process_start(int(parts[2])) != parts[3]


def describe_owner(lease: Lease | None) -> str:
    """Who holds the lease, for a refusal: "a class fine-tune of class K7QZ2P on server lab-2 (pid 812)"."""
    if lease is None:
        return "nobody"
    parts = lease.owner.split(":")
    what = JOB_NAMES.get(parts[0], "a training job")
    code = lease.state.get("code")
    if code:
        what += f" of class {code}"
    if len(parts) >= 3:
        what += f" on server {parts[1]} (pid {parts[2]})"
    return what


@dataclass(frozen=True)
class Lease:
    """Who holds a lease, until when, and what they last reported."""

    owner: str
    expires: dt.datetime
    state: dict  # what the owner last reported (see ``renew_job_lease``)


def acquire_job_lease(store: Store, owner: str, ttl: float, name: str = TRAINING_LEASE) -> bool:
    """Take the store's job lease for ``ttl`` seconds unless someone else holds it.

    Args:
        store: the class store.
        owner: who asks, unique per job (e.g. host, process id and a random part).
        ttl: seconds until the lease lapses unless renewed: a crashed job frees it.
        name: the lease; one training job per store uses the default.

    Returns:
        True if ``owner`` holds the lease now (it may already have), False if another does.
    """
    with transaction(store, write=True) as session:
        serialize(session, f"lease:{name}")
        now = store.clock()
        row = session.get(JobLease, name)
        if row is not None and row.owner != owner and row.expires > now and not owner_gone(row.owner):
            return False
        if row is None:
            session.add(JobLease(name=name, owner=owner, expires=now + dt.timedelta(seconds=ttl), state="{}"))
        else:
            row.owner, row.expires, row.state = owner, now + dt.timedelta(seconds=ttl), "{}"
    return True


def renew_job_lease(store: Store, owner: str, ttl: float, state: dict | None = None,
                    name: str = TRAINING_LEASE) -> bool:
    """Extend ``owner``'s lease by ``ttl`` seconds from now, recording ``state`` (JSON-able) for others to read.

    Returns:
        False if ``owner`` lost the lease (it lapsed and another took it): the job must stop.
    """
    with transaction(store, write=True) as session:
        serialize(session, f"lease:{name}")
        row = session.get(JobLease, name)
        if row is None or row.owner != owner:
            return False
        row.expires = store.clock() + dt.timedelta(seconds=ttl)
        if state is not None:
            row.state = json.dumps(state, allow_nan=False)
    return True


def release_job_lease(store: Store, owner: str, name: str = TRAINING_LEASE) -> None:
    """Give the lease back (nothing happens unless ``owner`` holds it)."""
    with transaction(store, write=True) as session:
        serialize(session, f"lease:{name}")
        session.execute(delete(JobLease).where(JobLease.name == name, JobLease.owner == owner))


def job_lease(store: Store, name: str = TRAINING_LEASE) -> Lease | None:
    """Who holds the lease now, and the state they last reported; None when it is free."""
    with transaction(store) as session:
        row = session.get(JobLease, name)
        if row is None or row.expires <= store.clock():
            return None
        return Lease(owner=row.owner, expires=row.expires, state=json.loads(row.state or "{}"))


_HELD: set[StoreLease] = set()  # the leases this process holds, given back when its server stops
_HELD_LOCK = threading.Lock()


def release_all() -> int:
    """Give back every lease this process holds (the server is stopping); returns how many."""
    with _HELD_LOCK:
        held = list(_HELD)
    for lease in held:
        lease.release()
    return len(held)


class StoreLease:
    """The store's job lease for a job run by this process: one owner id per job, errors absorbed.

    A store that cannot be reached does not stop a training (the app works without a class);
    renewing and releasing never raise, since the lease lapses on its own after ``ttl``.
    """

    def __init__(self, connect_store, ttl: float = 60.0, kind: str = "training"):
        self._connect, self.ttl, self.kind = connect_store, ttl, kind  # the store may appear after start-up
        self._store: Store | None = None
        self.owner: str | None = None
        self.refusal = ""  # who held the lease when ``acquire`` last failed, for people

    def acquire(self) -> bool:
        """True if this process may train now (it holds the lease, or no store is in use)."""
        from .db import ClassStoreError

        try:
            self._store = self._store or self._connect()
            if self._store is None:
                return True
            self.owner = owner_id(self.kind)
            if acquire_job_lease(self._store, self.owner, self.ttl):
                with _HELD_LOCK:
                    _HELD.add(self)
                return True
            self.refusal, self.owner = describe_owner(job_lease(self._store)), None
            return False
        except ClassStoreError:
            self.owner = None
            return True

    def renew(self) -> None:
        self._quietly(lambda: renew_job_lease(self._store, self.owner, self.ttl))

    def release(self) -> None:
        self._quietly(lambda: release_job_lease(self._store, self.owner))
        self.owner = None
        with _HELD_LOCK:
            _HELD.discard(self)

    def _quietly(self, call) -> None:
        from .db import ClassStoreError

        if self._store is not None and self.owner is not None:
            with contextlib.suppress(ClassStoreError):  # an unreachable store: the lease lapses by itself
                call()
