"""One training job per class store, even with several server processes: a lease row with an expiry.

A job takes the lease before it starts, renews it while it runs (reporting its progress
for every process' pages to show) and releases it at the end. A job that crashes stops
renewing, so its lease lapses after ``ttl`` seconds and the next job can start.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import delete

from .db import Store, serialize, transaction
from .models import JobLease

TRAINING_LEASE = "training"  # the one job a store runs at a time


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
        if row is not None and row.owner != owner and row.expires > now:
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


class StoreLease:
    """The store's job lease for a job run by this process: one owner id per job, errors absorbed.

    A store that cannot be reached does not stop a training (the app works without a class);
    renewing and releasing never raise, since the lease lapses on its own after ``ttl``.
    """

    def __init__(self, connect_store, ttl: float = 60.0):
        self._connect, self.ttl = connect_store, ttl  # called when a job starts: the store may appear later
        self._store: Store | None = None
        self.owner: str | None = None

    def acquire(self) -> bool:
        """True if this process may train now (it holds the lease, or no store is in use)."""
        import os
        import socket
        import uuid

        from .db import ClassStoreError

        try:
            self._store = self._store or self._connect()
            if self._store is None:
                return True
            self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
            return acquire_job_lease(self._store, self.owner, self.ttl)
        except ClassStoreError:
            self.owner = None
            return True

    def renew(self) -> None:
        self._quietly(lambda: renew_job_lease(self._store, self.owner, self.ttl))

    def release(self) -> None:
        self._quietly(lambda: release_job_lease(self._store, self.owner))
        self.owner = None

    def _quietly(self, call) -> None:
        from .db import ClassStoreError

        if self._store is not None and self.owner is not None:
            with contextlib.suppress(ClassStoreError):  # an unreachable store: the lease lapses by itself
                call()
