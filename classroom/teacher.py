"""The teacher's login: the password, its rate limits, and a signed token that outlives a reload.

Wrong passwords are counted per browser session (the device), per client address and in
total, in the store, so every server process sees them. The limits slow a guesser down without
ever locking the teacher out, as a school's shared network needs:

- a session that gave a wrong password lately waits once it made PASSWORD_LIMIT wrong tries in
  a minute, or once its address made ADDRESS_LIMIT (a high bar: a whole class behind one NAT
  mistyping) or everyone together made PASSWORD_TOTAL_LIMIT;
- a session that has not failed (a teacher arriving, even behind the same school NAT as a
  guesser making a wrong try every second) is never refused: its password is always checked.
  A guesser who opens a new session per try gets one check per session it opens, each a whole
  page load; the teacher is never the one who waits for it.

A right password gives a token ``expiry.signature``: an HMAC over the expiry, keyed by a
random secret kept in the store (shared by every server, surviving restarts) mixed with
the password. It never contains the password; changing the password ends every token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from sqlalchemy import select

from .db import RateLimited, Store, limited, record_attempt, serialize, transaction
from .models import ServerSecret

PASSWORD_LIMIT, PASSWORD_WINDOW_S = 5, 60  # wrong passwords per session (device) per minute
ADDRESS_LIMIT = 20  # wrong passwords per address per minute, before its failing sessions are slowed down
PASSWORD_TOTAL_LIMIT = 30  # wrong passwords from everyone per minute, before failing sessions are slowed down
SESSION_MEMORY_S = 3600  # a session that gave a wrong password counts as failing for an hour
TOKEN_TTL_S = 12 * 3600  # a login lasts a school day
_TOKEN_SECRET = "teacher token"
_TOKEN_SHAPE = re.compile(r"[0-9]{1,12}\.[A-Za-z0-9_-]{1,64}", re.ASCII)  # expiry.signature, as teacher_token writes it


def check_teacher_password(store: Store, given: str, configured: str, client_key: str,
                           session_key: str = "") -> bool:
    """Whether ``given`` is the teacher password, compared in constant time, within the rate limits.

    Args:
        store: the class store, where attempts are counted.
        given: what was typed.
        configured: the server's teacher password.
        client_key: whose address it is (``clients.rate_key``).
        session_key: which browser session asks; '' counts as a session that has failed, limited by
            its address's own count.

    Raises:
        ValueError: no password is configured (the teacher page stays closed).
        RateLimited: this session gave a wrong password lately, and it, its address or everyone
            gave too many lately.
    """
    if not configured:
        raise ValueError("No teacher password is configured on this server.")
    client, session_key = str(client_key)[:128], str(session_key)[:128]
    with transaction(store, write=True) as session:
        serialize(session, "password")  # the total counter is everyone's
        now = store.clock()
        _refuse_if_limited(session, client, session_key, now)
        right = _same(given, configured)
        if not right:
            record_attempt(session, "password", client, now, PASSWORD_WINDOW_S)
            if session_key:
                record_attempt(session, "password-session", session_key, now, SESSION_MEMORY_S)
    return right


def _same(given: str, configured: str) -> bool:
    # hashing first makes the comparison's time independent of both lengths
    return hmac.compare_digest(hashlib.sha256(str(given).encode()).digest(),
                               hashlib.sha256(str(configured).encode()).digest())


def _refuse_if_limited(session, client: str, session_key: str, now) -> None:
    """Raise RateLimited for a session that gave a wrong password lately and is over one of the module's
    limits; a session that has not failed is never refused."""
    if session_key and limited(session, "password-session", session_key, now, 1, SESSION_MEMORY_S) is None:
        return
    own = limited(session, "password-session", session_key, now, PASSWORD_LIMIT, PASSWORD_WINDOW_S) \
        if session_key else limited(session, "password", client, now, PASSWORD_LIMIT, PASSWORD_WINDOW_S)
    if own is not None:
        raise RateLimited(f"{own[0]} wrong passwords in the last minute. Wait {own[1]} seconds before trying "
                          f"again.", retry_after=own[1])
    for key, limit, whose in ((client, ADDRESS_LIMIT, "your network"), (None, PASSWORD_TOTAL_LIMIT, "everyone")):
        found = limited(session, "password", key, now, limit, PASSWORD_WINDOW_S)
        if found is not None:
            raise RateLimited(f"{found[0]} wrong passwords in the last minute from {whose}, and this page gave one "
                              f"too. Wait {found[1]} seconds before trying again.", retry_after=found[1])


def teacher_token(store: Store, configured: str, ttl_s: float = TOKEN_TTL_S) -> str:
    """A token that says "logged in as the teacher" until ``ttl_s`` seconds from now.

    Raises:
        ValueError: no password is configured.
    """
    expires = int(store.clock().timestamp() + ttl_s)
    return f"{expires}.{_signature(_key(store, configured), expires)}"


def check_teacher_token(store: Store, token: object, configured: str) -> bool:
    """Whether ``token`` came from ``teacher_token`` with this password and has not expired."""
    if not configured or not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
        return False  # anything else (non-ASCII digits such as '²', other characters) is simply not the teacher
    expires, signature = token.split(".")
    now = store.clock().timestamp()
    if not now < int(expires) <= now + TOKEN_TTL_S:
        return False
    return hmac.compare_digest(signature, _signature(_key(store, configured), int(expires)))


def _signature(key: bytes, expires: int) -> str:
    digest = hmac.new(key, f"teacher|{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _key(store: Store, configured: str) -> bytes:
    if not configured:
        raise ValueError("No teacher password is configured on this server.")
    return hmac.new(server_secret(store, _TOKEN_SECRET), str(configured).encode(), hashlib.sha256).digest()


def server_secret(store: Store, name: str) -> bytes:
    """A random 32-byte secret stored under ``name``, made the first time it is asked for."""
    with transaction(store) as session:
        value = session.scalar(select(ServerSecret.value).where(ServerSecret.name == name))
    if value is None:
        with transaction(store, write=True) as session:
            serialize(session, f"secret:{name}")  # two servers asking at once must agree on one secret
            value = session.scalar(select(ServerSecret.value).where(ServerSecret.name == name))
            if value is None:
                value = secrets.token_hex(32)
                session.add(ServerSecret(name=name, value=value))
    return bytes.fromhex(value)
