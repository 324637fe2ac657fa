"""Rate limits that hold, and the teacher's login token, against SQLite and PostgreSQL (the ``store`` fixture)."""

import numpy as np
import pytest
from classroom_support import new_drawing

import classroom
from classroom import RateLimited
from classroom.db import ClassNotFound, UnknownStudent
from classroom.store import (
    CLASS_JOIN_LIMIT,
    CLIENT_LOOKUP_LIMIT,
    CLIENT_SEND_LIMIT,
    JOIN_LIMIT,
    JOIN_WINDOW_S,
    LOOKUP_LIMIT,
    SEND_LIMIT,
)
from classroom.teacher import ADDRESS_LIMIT, PASSWORD_LIMIT, PASSWORD_TOTAL_LIMIT, TOKEN_TTL_S

pytest_plugins = ["classroom_support"]

PASSWORD = "correct horse"
DIGIT = np.zeros((28, 28), np.uint8)


@pytest.fixture
def code(store):
    return classroom.create_class(store, "9B")


def send(store, student, **who):
    return classroom.send_drawing(store, student, new_drawing(DIGIT), intended=1, predicted=1, confidence=0.9, **who)


def guess(store, client, session, given="guess"):
    return classroom.check_teacher_password(store, given, PASSWORD, client, session)


# ---------------------------------------------------------------- joining


def test_joins_from_one_address_are_limited_with_a_sentence_and_others_still_join(store, code, clock):
    for _ in range(JOIN_LIMIT):
        classroom.join(store, code, client="ip:10.0.0.9")
    with pytest.raises(RateLimited, match=f"{JOIN_LIMIT} students joined from your network in the last 10 "
                                          "minutes") as caught:
        classroom.join(store, code, client="ip:10.0.0.9")
    assert 1 <= caught.value.retry_after <= JOIN_WINDOW_S
    classroom.join(store, code, client="ip:10.0.0.10")  # the real student next to them
    clock.advance(caught.value.retry_after)
    classroom.join(store, code, client="ip:10.0.0.9")
    assert classroom.class_summary(store, code).n_joined == JOIN_LIMIT + 2


def test_a_flood_of_joins_from_many_addresses_stops_at_the_class_limit_far_below_its_cap(store, code):
    joined = 0
    with pytest.raises(RateLimited, match=f"{CLASS_JOIN_LIMIT} students joined the class {code} in the last 5 "
                                          "minutes"):
        for i in range(600):  # 120 joins in 9 s used to fill the class's 500 places
            classroom.join(store, code, client=f"ip:10.1.{i // 250}.{i % 250}")
            joined += 1
    assert joined == CLASS_JOIN_LIMIT
    other = classroom.create_class(store, "8A")
    classroom.join(store, other, client="ip:10.9.9.9")  # another class is not held up


# ---------------------------------------------------------------- looking up a class code


def wrong_lookup(store, session, client="ip:10.0.0.9"):
    with pytest.raises(ClassNotFound):
        classroom.find_class(store, "ZZZZZZ", client=client, session_key=session)


@pytest.mark.parametrize("lookup", [
    lambda store, code, who: classroom.find_class(store, code, **who),
    lambda store, code, who: classroom.rejoin(store, code, "no-such-student", **who),
], ids=["find_class", "rejoin"])
def test_wrong_class_codes_are_limited_per_session_with_a_sentence(store, code, clock, lookup):
    who = {"client": "ip:10.0.0.9", "session_key": "session:guesser"}
    for _ in range(LOOKUP_LIMIT):
        with pytest.raises((ClassNotFound, UnknownStudent)):
            lookup(store, "ZZZZZZ", who)
    with pytest.raises(RateLimited, match=f"This browser tried {LOOKUP_LIMIT} class codes that do not exist in the "
                                          "last minute") as caught:
        lookup(store, code, who)  # not even the right code, for a minute
    assert 1 <= caught.value.retry_after <= 60
    assert classroom.find_class(store, code, client="ip:10.0.0.9", session_key="session:classmate").code == code
    clock.advance(caught.value.retry_after)
    assert classroom.find_class(store, code, **who).code == code


def test_right_codes_are_never_counted(store, code):
    for _ in range(3 * LOOKUP_LIMIT):  # the join box looks its class up on every rerun
        classroom.find_class(store, code, client="ip:10.0.0.9", session_key="session:a")


def test_new_sessions_from_one_address_are_held_to_the_address_lookup_limit(store, code, clock):
    for i in range(CLIENT_LOOKUP_LIMIT):
        wrong_lookup(store, f"session:{i}")
    with pytest.raises(RateLimited, match=f"Your network tried {CLIENT_LOOKUP_LIMIT} class codes"):
        classroom.find_class(store, code, client="ip:10.0.0.9", session_key="session:fresh")
    assert classroom.find_class(store, code, client="ip:10.0.0.10", session_key="session:fresh").code == code
    assert classroom.find_class(store, code).code == code  # the command line and the teacher: not limited


# ---------------------------------------------------------------- sending


def test_the_send_limit_survives_leaving_and_joining_again_in_the_same_browser(store, code):
    first = classroom.join(store, code, client="ip:10.0.0.9")
    for _ in range(SEND_LIMIT):
        send(store, first, client="ip:10.0.0.9", session_key="session:a")
    again = classroom.join(store, code, client="ip:10.0.0.9")  # Leave, then Join: a new student id
    with pytest.raises(RateLimited, match=f"This browser sent {SEND_LIMIT} drawings in the last minute"):
        send(store, again, client="ip:10.0.0.9", session_key="session:a")
    send(store, classroom.join(store, code), client="ip:10.0.0.10", session_key="session:b")  # others still send


def test_new_sessions_from_one_address_are_held_to_the_address_limit(store, code, clock):
    sent = 0
    with pytest.raises(RateLimited, match=f"{CLIENT_SEND_LIMIT} drawings came from your network"):
        for i in range(CLIENT_SEND_LIMIT // SEND_LIMIT + 2):  # a new private window, a new student, each time
            student = classroom.join(store, code, client="ip:10.0.0.9")
            for _ in range(SEND_LIMIT):
                send(store, student, client="ip:10.0.0.9", session_key=f"session:{i}")
                sent += 1
    assert sent == CLIENT_SEND_LIMIT


# ---------------------------------------------------------------- the teacher's password


def test_a_session_that_keeps_guessing_waits_and_is_told_how_long(store, clock):
    for _ in range(PASSWORD_LIMIT):
        assert not guess(store, "ip:10.0.0.66", "session:guesser")
    with pytest.raises(RateLimited, match=f"{PASSWORD_LIMIT} wrong passwords in the last minute. Wait") as caught:
        guess(store, "ip:10.0.0.66", "session:guesser", PASSWORD)  # not even the right one, from this session
    assert 1 <= caught.value.retry_after <= 60
    clock.advance(caught.value.retry_after)
    assert not guess(store, "ip:10.0.0.66", "session:guesser")


def test_a_student_guessing_every_second_on_the_teachers_network_never_locks_the_teacher_out(store, clock):
    logged_in = []
    for second in range(120):  # a wrong try a second, each in a fresh session, on the school's one address
        try:
            guess(store, "ip:10.0.0.1", f"session:student-{second}")
        except RateLimited:
            pytest.fail("a session that has not failed was refused")
        if second in (6, 14, 21, 90):  # the teacher arrives (a new session each time), with the right password
            logged_in.append(guess(store, "ip:10.0.0.1", f"session:teacher-{second}", PASSWORD))
        clock.advance(1)
    assert logged_in == [True] * 4


def test_a_student_reusing_one_session_is_slowed_and_the_teacher_still_logs_in(store, clock):
    refused = 0
    for _ in range(60):
        try:
            assert not guess(store, "ip:10.0.0.1", "session:student")
        except RateLimited:
            refused += 1
        clock.advance(1)
    assert refused >= 60 - 2 * PASSWORD_LIMIT  # about PASSWORD_LIMIT tries a minute
    assert guess(store, "ip:10.0.0.1", "session:teacher", PASSWORD)


def test_a_failing_session_on_a_flooded_network_waits_but_the_address_is_not_locked(store, clock):
    for i in range(ADDRESS_LIMIT):
        guess(store, "ip:10.0.0.1", f"session:bot-{i}")
    with pytest.raises(RateLimited, match=f"{ADDRESS_LIMIT} wrong passwords in the last minute from your network, "
                                          "and this page gave one too"):
        guess(store, "ip:10.0.0.1", "session:bot-0")
    assert guess(store, "ip:10.0.0.1", "session:teacher", PASSWORD)
    assert not guess(store, "ip:10.0.0.2", "session:bot-0")  # the limit was the address's, not the session's


def test_many_failing_addresses_slow_down_failing_sessions_but_never_a_fresh_teacher(store, clock):
    for i in range(PASSWORD_TOTAL_LIMIT):
        guess(store, f"ip:10.2.0.{i}", f"session:bot-{i}")
    with pytest.raises(RateLimited, match=f"{PASSWORD_TOTAL_LIMIT} wrong passwords in the last minute from everyone"):
        guess(store, "ip:10.2.0.0", "session:bot-0")  # one wrong try each, yet they are all held up
    assert guess(store, "ip:10.3.0.1", "session:teacher", PASSWORD)


def test_without_a_session_wrong_guesses_limit_the_client_and_it_is_told_when_to_retry(store, clock):
    assert classroom.check_teacher_password(store, PASSWORD, PASSWORD, "ip:10.0.0.7")
    for _ in range(PASSWORD_LIMIT):
        assert not classroom.check_teacher_password(store, "Correct horse", PASSWORD, "ip:10.0.0.7")
    with pytest.raises(RateLimited, match=f"{PASSWORD_LIMIT} wrong passwords") as caught:
        classroom.check_teacher_password(store, PASSWORD, PASSWORD, "ip:10.0.0.7")  # even the right one, now
    assert 1 <= caught.value.retry_after <= 60
    assert classroom.check_teacher_password(store, PASSWORD, PASSWORD, "ip:10.0.0.8")  # the limit is per client
    clock.advance(caught.value.retry_after)
    assert classroom.check_teacher_password(store, PASSWORD, PASSWORD, "ip:10.0.0.7")


@pytest.mark.parametrize("configured", ["", None])
def test_no_configured_password_keeps_the_teacher_page_closed(store, configured):
    with pytest.raises(ValueError, match="No teacher password is configured"):
        classroom.check_teacher_password(store, "", configured, "ip:10.0.0.1")


def test_right_passwords_do_not_count_towards_any_limit(store):
    for _ in range(3 * PASSWORD_LIMIT):
        assert guess(store, "ip:10.0.0.1", "session:teacher", PASSWORD)


# ---------------------------------------------------------------- the login token


def test_a_token_logs_the_teacher_in_until_it_expires(store, clock):
    token = classroom.teacher_token(store, PASSWORD)
    assert PASSWORD not in token and classroom.check_teacher_token(store, token, PASSWORD)
    clock.advance(TOKEN_TTL_S - 1)
    assert classroom.check_teacher_token(store, token, PASSWORD)
    clock.advance(2)
    assert not classroom.check_teacher_token(store, token, PASSWORD)


def test_a_forged_altered_or_foreign_token_is_refused(store, db_url, clock):
    token = classroom.teacher_token(store, PASSWORD)
    expires, signature = token.split(".")
    later = str(int(expires) + 3600)
    altered = signature[:5] + ("B" if signature[5] != "B" else "C") + signature[6:]  # one character, always changed
    for forged in ("", "garbage", f"{later}.{signature}", f"{expires}.{altered}", f"{expires}.",
                   f"-1.{signature}", f"{expires}.{signature}.x", None, 12345, "9" * 300):
        assert not classroom.check_teacher_token(store, forged, PASSWORD), forged
    assert not classroom.check_teacher_token(store, token, "a new password")  # changing it ends every login
    assert not classroom.check_teacher_token(store, token, "")


@pytest.mark.parametrize("shape", [
    "²²²²²²²²²².{signature}",  # superscript digits pass str.isdigit, then int() raised
    "١٢٣٤٥٦٧٨٩٠.{signature}",  # Arabic-Indic digits: int() accepts them, the token must not
    "{expires}.{signature}é",  # a non-ASCII signature made hmac.compare_digest raise TypeError
    " {expires}.{signature}",
    "{expires}.{signature}\n",
    "+{expires}.{signature}",
    "{expires}_.{signature}",
    "{expires}.sig nature",
    "{expires}.{signature}==",
])
def test_a_malformed_token_is_simply_not_the_teacher(store, clock, shape):
    expires, signature = classroom.teacher_token(store, PASSWORD).split(".")
    assert classroom.check_teacher_token(store, shape.format(expires=expires, signature=signature), PASSWORD) is False


def test_every_server_of_a_store_accepts_the_same_token(store, db_url, clock):
    other_server = classroom.connect(db_url, clock=clock)
    try:
        assert classroom.check_teacher_token(other_server, classroom.teacher_token(store, PASSWORD), PASSWORD)
    finally:
        other_server.close()
