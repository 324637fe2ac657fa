"""The class store's functions, each against SQLite and PostgreSQL (the ``store`` fixture)."""

import csv
import datetime as dt
import io

import numpy as np
import pytest
import segno
from classroom_support import new_drawing
from PIL import Image

import classroom
from classroom import (
    ClassClosed,
    ClassNotFound,
    ClassStoreError,
    ClassStoreUnavailable,
    RateLimited,
    UnknownStudent,
)
from classroom.db import ENV_VAR, connect, default_url
from classroom.qr import QR_BORDER, join_url, qr_png
from classroom.store import CODE_ALPHABET, MAX_PNG_BYTES, SEND_LIMIT, clean_text

pytest_plugins = ["classroom_support"]

DIGIT = np.arange(784, dtype=np.uint8).reshape(28, 28) % 251  # every pixel differs from its neighbours


def png_bytes(size=8) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (size, size), (0, 0, 0, 255)).save(out, format="PNG")
    return out.getvalue()


def declared_png(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width`` x ``height``: the store must refuse it unread."""
    real = png_bytes()
    return real[:16] + width.to_bytes(4, "big") + height.to_bytes(4, "big") + real[24:]


def send(store, student, intended=3, predicted=3, confidence=0.95, **extra):
    return classroom.send_drawing(store, student, new_drawing(DIGIT), intended=intended, predicted=predicted,
                                  confidence=confidence, model_name="classic", model_digest="ab" * 32, **extra)


@pytest.fixture
def code(store):
    return classroom.create_class(store, "7B maths")


def test_a_class_is_created_found_by_its_code_listed_and_closed(store, code):
    assert len(code) == 6 and set(code) <= set(CODE_ALPHABET)
    info = classroom.find_class(store, f" {code.lower()[:3]} {code.lower()[3:]} ")  # typed as heard
    assert (info.code, info.name, info.is_open) == (code, "7B maths", True)
    assert info.created.tzinfo is not None
    assert [c.code for c in classroom.list_classes(store)] == [code]
    classroom.close_class(store, code)
    with pytest.raises(ClassClosed, match="is closed"):
        classroom.find_class(store, code)
    closed = classroom.find_class(store, code, allow_closed=True)
    assert not closed.is_open and closed.closed >= closed.created


def test_class_codes_are_unique_and_have_no_look_alike_characters(store):
    codes = [classroom.create_class(store, f"class {i}") for i in range(60)]
    assert len(set(codes)) == 60
    assert not set("".join(codes)) & set("0O1I")


@pytest.mark.parametrize("bad", ["", "   ", "ZZZZZZ", "<script>alert(1)</script>", "A" * 10_000, "7KQ2M"])
def test_a_wrong_class_code_says_no_class_has_it(store, code, bad):
    for call in (classroom.find_class, classroom.join, classroom.class_summary):
        with pytest.raises(ClassNotFound, match="No class has the code") as caught:
            call(store, bad)
        assert len(str(caught.value)) < 200  # a 10,000-character code is not echoed back


def test_the_join_link_keeps_the_app_address_and_its_qr_code_holds_exactly_that_link():
    url = join_url("https://lab.school.example/draw?theme=dark&class=OLD", " 7kq2mx ")
    assert url == "https://lab.school.example/draw?theme=dark&class=7KQ2MX"
    image = np.array(Image.open(io.BytesIO(qr_png(url, scale=6))).convert("L"))
    expected = np.array(segno.make_qr(url, error="m").matrix, bool)  # a full QR code, error correction M or more
    side = expected.shape[0]
    assert side >= 21 and image.shape == ((side + 2 * QR_BORDER) * 6,) * 2
    modules = image[QR_BORDER * 6 + 3::6, QR_BORDER * 6 + 3::6][:side, :side] < 128  # each module's centre pixel
    assert np.array_equal(modules, expected)
    assert image[:QR_BORDER * 6].min() == 255  # the quiet zone is white


def test_a_closed_class_takes_no_students_and_no_drawings(store, code):
    student = classroom.join(store, code)
    classroom.close_class(store, code)
    with pytest.raises(ClassClosed):
        classroom.join(store, code)
    with pytest.raises(ClassClosed):
        send(store, student)
    assert classroom.class_summary(store, code).info.closed is not None  # the teacher still sees it


@pytest.mark.parametrize(("typed", "kept"), [
    ("Sam", "Sam"),
    ("<b>Sam</b><script>alert(1)</script>", "<b>Sam</b><script>alert(1)</script>"[:40]),  # text, never HTML
    ("x" * 10_000, "x" * 40),
    ("  Tab\tand\nnew   line ", "Tab and new line"),
    ("\x00\x1b[31mred\u202e\u200b", "[31mred"),  # control and format characters go
    ("Zoë 😀", "Zoë 😀"),
    ("", ""),
])
def test_nicknames_are_cleaned_to_40_characters_of_plain_text(typed, kept):
    assert clean_text(typed, 40) == kept


def test_a_student_joins_sends_and_reads_back_exactly_what_was_sent(store, code, clock):
    student = classroom.join(store, code, "<i>Ann</i>" + "n" * 10_000)
    png = png_bytes()
    drawing_id = send(store, student, intended=1, predicted=7, confidence=0.625, canvas_png=png)
    got = classroom.drawing(store, drawing_id, with_png=True)
    assert (got.student, got.nickname) == (student, ("<i>Ann</i>" + "n" * 10_000)[:40])
    assert got.image.dtype == np.uint8
    assert np.array_equal(got.image[:27], DIGIT[:27])  # the last row tells drawings apart (new_drawing)
    assert (got.intended, got.predicted, got.confidence, got.right) == (1, 7, 0.625, False)
    assert (got.model_name, got.model_digest, got.canvas_png) == ("classic", "ab" * 32, png)
    assert got.created == clock.now
    listed = classroom.student_drawings(store, student)
    assert [d.id for d in listed] == [drawing_id] and listed[0].canvas_png is None  # lists stay light
    assert [d.id for d in classroom.class_drawings(store, code)] == [drawing_id]


def test_a_drawing_survives_closing_and_reopening_the_store(db_url, clock):
    first = connect(db_url, clock=clock)
    code = classroom.create_class(first, "restart")
    drawing_id = send(first, classroom.join(first, code), intended=9, predicted=4)
    first.close()
    again = connect(db_url, clock=clock)
    try:
        assert [(d.id, d.intended) for d in classroom.class_drawings(again, code)] == [(drawing_id, 9)]
    finally:
        again.close()


@pytest.mark.parametrize(("change", "message"), [
    ({"intended": 10}, "intended must be a digit"),
    ({"intended": -1}, "intended must be a digit"),
    ({"intended": True}, "intended must be a digit"),
    ({"intended": 3.0}, "intended must be a digit"),
    ({"predicted": "7"}, "predicted must be a digit"),
    ({"image": np.zeros((28, 27), np.uint8)}, "image must be 28x28 uint8"),
    ({"image": np.zeros((28, 28), np.float32)}, "image must be 28x28 uint8"),
    ({"confidence": 1.5}, "confidence must be a probability"),
    ({"confidence": float("nan")}, "confidence must be a probability"),
    ({"canvas_png": b"GIF89a..."}, "bytes of a PNG"),
    ({"canvas_png": b"\x89PNG\r\n\x1a\n" + bytes(MAX_PNG_BYTES)}, "at most 1,000,000"),
    ({"canvas_png": b"\x89PNG\r\n\x1a\n" + bytes(40)}, "bytes of a PNG file: .*header"),
    ({"canvas_png": declared_png(9000, 9000)}, "9000x9000 pixels; at most 1280x1280"),
    ({"canvas_png": declared_png(1281, 10)}, "1281x10 pixels; at most 1280x1280"),
    ({"canvas_png": png_bytes()[:33] + b"\x00\x00\x00\x00zzZz\x00\x00\x00\x00" * 1000 + png_bytes()[33:]},
     "canvas_png is refused: The drawing arrived in over 1024 pieces"),  # cheap to send, slow to decode
])
def test_a_malformed_drawing_is_refused_and_nothing_is_stored(store, code, change, message):
    student = classroom.join(store, code)
    fields = {"image": DIGIT, "intended": 3, "predicted": 3, "confidence": 0.9, **change}
    with pytest.raises(ValueError, match=message):
        classroom.send_drawing(store, student, fields.pop("image"), **fields)
    assert classroom.class_drawings(store, code) == []


def test_an_unknown_student_cannot_send_withdraw_or_list(store, code):
    for call in (lambda: send(store, "made-up"), lambda: classroom.withdraw(store, "made-up", 1),
                 lambda: classroom.student_drawings(store, "made-up")):
        with pytest.raises(UnknownStudent, match="join the class again"):
            call()


def test_a_thousand_drawings_in_a_minute_keep_30_and_say_when_to_retry(store, code, clock):
    student, other = classroom.join(store, code), classroom.join(store, code)
    kept, refused = [], []
    for _ in range(1000):  # one every 60 ms: 1,000 in a minute
        try:
            kept.append(send(store, student))
        except RateLimited as err:
            refused.append(err)
        clock.advance(0.06)
    assert len(kept) == SEND_LIMIT and len(refused) == 1000 - SEND_LIMIT
    assert "30 drawings in the last minute" in str(refused[-1]) and "Try again in" in str(refused[-1])
    send(store, other)  # the limit is per student
    clock.advance(refused[-1].retry_after)
    send(store, student)  # told when, and it works then


def test_withdrawing_deletes_only_your_own_drawing_and_does_not_reset_the_limit(store, code, clock):
    student, other = classroom.join(store, code), classroom.join(store, code)
    mine = [send(store, student) for _ in range(SEND_LIMIT)]
    theirs = send(store, other)
    classroom.withdraw(store, student, mine[0])
    assert [d.id for d in classroom.student_drawings(store, student)] == mine[1:]
    with pytest.raises(ClassStoreError, match="no drawing number"):
        classroom.withdraw(store, student, mine[0])  # already withdrawn
    with pytest.raises(ClassStoreError, match="no drawing number"):
        classroom.withdraw(store, student, theirs)
    assert classroom.drawing(store, theirs).student == other
    with pytest.raises(RateLimited):
        send(store, student)  # send, withdraw, send ... is no way round the limit


def test_the_summary_counts_digits_and_the_confusion_matrix_and_ranks_the_hardest(store, code):
    ann, bob = classroom.join(store, code, "Ann"), classroom.join(store, code, "Bob")
    classroom.join(store, code, "Cy")  # joined, sent nothing
    sent = {  # name: (student, intended, predicted, confidence)
        "sure 1": (ann, 1, 1, 0.99), "unsure 1": (ann, 1, 1, 0.55), "1 as 7": (ann, 1, 7, 0.90),
        "1 as 4": (bob, 1, 4, 0.60), "0 as 9": (bob, 0, 9, 0.97), "sure 0": (bob, 0, 0, 0.98),
        "barely 7": (bob, 7, 7, 0.70),
    }
    ids = {name: send(store, s, i, p, c) for name, (s, i, p, c) in sent.items()}
    summary = classroom.class_summary(store, code)
    assert (summary.n_drawings, summary.n_students, summary.n_joined) == (7, 2, 3)
    assert summary.counts.tolist() == [2, 4, 0, 0, 0, 0, 0, 1, 0, 0]
    assert summary.accuracy == pytest.approx(4 / 7)
    assert (summary.confusion[1, 7], summary.confusion[1, 4], summary.confusion[0, 9], summary.confusion[1, 1]) == (
        1, 1, 1, 2)
    assert summary.confusion.sum() == 7
    assert summary.digit_accuracy[0] == 0.5 and summary.digit_accuracy[1] == 0.5 and np.isnan(summary.digit_accuracy[2])
    # wrong ones, most confident first, then right but unsure ones, least sure first
    assert [d.id for d in summary.hardest] == [ids[n] for n in ("0 as 9", "1 as 7", "1 as 4", "unsure 1", "barely 7")]
    assert [d.id for d in classroom.class_drawings(store, code, intended=1, predicted=7)] == [ids["1 as 7"]]


def test_an_empty_class_has_a_summary_without_accuracy(store, code):
    summary = classroom.class_summary(store, code)
    assert (summary.n_drawings, summary.accuracy, summary.hardest) == (0, None, [])
    assert summary.confusion.shape == (10, 10)


def test_one_job_lease_per_store_lapses_unless_renewed(store, clock):
    assert classroom.acquire_job_lease(store, "server-a", ttl=30)
    assert not classroom.acquire_job_lease(store, "server-b", ttl=30)
    assert classroom.acquire_job_lease(store, "server-a", ttl=30)  # asking again is fine
    assert classroom.renew_job_lease(store, "server-a", ttl=30, state={"epoch": 2, "of": 3})
    lease = classroom.job_lease(store)
    assert (lease.owner, lease.state, lease.expires) == ("server-a", {"epoch": 2, "of": 3}, clock.now + dt.timedelta(
        seconds=30))
    assert not classroom.renew_job_lease(store, "server-b", ttl=30)
    clock.advance(31)  # server-a crashed and stopped renewing
    assert classroom.job_lease(store) is None
    assert classroom.acquire_job_lease(store, "server-b", ttl=30)
    assert not classroom.renew_job_lease(store, "server-a", ttl=30)  # a has lost it, and must stop
    classroom.release_job_lease(store, "server-a")  # not the holder: nothing happens
    assert classroom.job_lease(store).owner == "server-b"
    classroom.release_job_lease(store, "server-b")
    assert classroom.job_lease(store) is None


def test_export_writes_mnist_layout_npz_and_a_csv(store, code, tmp_path, clock):
    classroom.join(store, code, "first to join, sent nothing")
    clock.advance(1)
    ann = classroom.join(store, code, "Ann")
    clock.advance(1)
    bea = classroom.join(store, code, "Bea")
    ids = [send(store, who, intended=d, predicted=(d + 1) % 10, confidence=0.5)
           for who, d in ((ann, 4), (ann, 0), (bea, 9))]
    assert classroom.export_npz(store, code, tmp_path / "class.npz") == 3
    with np.load(tmp_path / "class.npz") as data:
        assert sorted(data.files) == ["x", "y"]
        assert data["x"].shape == (3, 28, 28) and data["x"].dtype == np.uint8
        assert np.array_equal(data["x"][1][:27], DIGIT[:27])
        assert data["y"].tolist() == [4, 0, 9]
    assert classroom.export_csv(store, code, tmp_path / "class.csv") == 3
    rows = list(csv.DictReader((tmp_path / "class.csv").open()))
    assert list(rows[0]) == ["id", "student", "intended", "predicted", "confidence", "created"]
    assert [(int(r["id"]), r["student"], r["intended"], r["predicted"]) for r in rows] == [
        (ids[0], "2", "4", "5"), (ids[1], "2", "0", "1"), (ids[2], "3", "9", "0")]
    text = (tmp_path / "class.csv").read_text()
    assert "Ann" not in text and ann not in text and bea not in text  # numbers: no nickname, no secret id


def test_an_empty_class_exports_an_empty_data_set(store, code, tmp_path):
    assert classroom.export_npz(store, code, tmp_path / "empty.npz") == 0
    with np.load(tmp_path / "empty.npz") as data:
        assert data["x"].shape == (0, 28, 28) and data["y"].shape == (0,)


# ---------------------------------------------------------------- a store that cannot be used


def test_a_missing_folder_makes_the_store_unavailable_with_a_clear_message(tmp_path):
    with pytest.raises(ClassStoreUnavailable, match="folder .*missing.* does not exist"):
        connect(f"sqlite:///{tmp_path / 'missing' / 'classroom.db'}")


def test_a_read_only_database_can_be_looked_at_but_refuses_changes_clearly(tmp_path):
    path = tmp_path / "classroom.db"
    writable = connect(f"sqlite:///{path}")
    code = classroom.create_class(writable, "archived")
    writable.close()
    # SQLite's read-only mode fails exactly as a read-only file does (file modes do not bind root)
    read_only = connect(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert classroom.find_class(read_only, code).name == "archived"
    for change in (lambda: classroom.join(read_only, code), lambda: classroom.create_class(read_only, "new")):
        with pytest.raises(ClassStoreUnavailable, match="read-only.*Drawing and predicting still work"):
            change()
    read_only.close()


@pytest.mark.parametrize(("url", "message"), [
    ("postgresql+psycopg://nobody:secret@127.0.0.1:1/none", "unavailable .*Drawing and predicting still work"),
    ("not a url", "not a database URL"),
    ("nosuchdb://host/db", "not a database URL"),
])
def test_an_unreachable_or_malformed_database_is_unavailable_and_hides_passwords(url, message):
    with pytest.raises(ClassStoreUnavailable, match=message) as caught:
        connect(url)
    assert "secret" not in str(caught.value)


def test_the_default_store_is_the_env_variable_else_a_file_in_the_project(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert default_url() == f"sqlite:///{classroom.db.PROJECT_ROOT / 'classroom.db'}"
    monkeypatch.setenv(ENV_VAR, f"sqlite:///{tmp_path / 'elsewhere.db'}")
    store = connect()
    classroom.create_class(store, "x")
    store.close()
    assert (tmp_path / "elsewhere.db").exists()


# ---------------------------------------------------------------- reading a class back


def test_the_latest_drawings_come_in_the_order_sent(store, code):
    ann = classroom.join(store, code)
    ids = [send(store, ann, intended=d, predicted=d) for d in range(7)]
    assert [d.id for d in classroom.class_drawings(store, code, last=3)] == ids[-3:]
    assert [d.id for d in classroom.class_drawings(store, code, intended=2, last=3)] == [ids[2]]
    assert classroom.class_drawings(store, code, last=0) == []


def test_one_person_on_two_devices_with_one_nickname_is_one_writer(store, code):
    first, second = classroom.join(store, code, "Sam"), classroom.join(store, code, "sam")
    anonymous = [classroom.join(store, code) for _ in range(2)]
    for student in (first, second, *anonymous):
        send(store, student)
    summary = classroom.class_summary(store, code)
    assert (summary.n_students, summary.n_writers) == (4, 3)
    writers = {d.writer for d in classroom.class_drawings(store, code)}
    assert len(writers) == 3 and "nickname:sam" in writers


def test_a_class_runs_while_open_and_recently_joined_or_sent_to(store, clock):
    assert classroom.running_class(store) is None
    old = classroom.create_class(store, "yesterday")
    assert classroom.running_class(store) is None  # created, but nobody is there yet
    student = classroom.join(store, old)
    assert classroom.running_class(store).code == old
    clock.advance(3 * 3600)
    assert classroom.running_class(store) is None  # nobody came for hours
    send(store, student)
    assert classroom.running_class(store).code == old  # a drawing keeps it running
    fresh = classroom.create_class(store, "today")
    classroom.join(store, fresh)
    assert classroom.running_class(store).code == fresh  # the latest activity
    classroom.close_class(store, fresh)
    assert classroom.running_class(store).code == old  # closed: that lesson is over
    classroom.close_class(store, old)
    assert classroom.running_class(store) is None


def test_the_same_drawing_sent_twice_is_kept_once_and_counted_once(store, code):
    student = classroom.join(store, code)
    drawing = new_drawing(DIGIT)
    key = classroom.send_key(student, drawing)
    assert classroom.sent_drawing_id(store, student, key) is None  # never arrived: the student may send it
    first = classroom.send_drawing(store, student, drawing, intended=3, predicted=3, confidence=0.9)
    again = classroom.send_drawing(store, student, drawing, intended=3, predicted=3, confidence=0.9)
    assert first == again == classroom.sent_drawing_id(store, student, key)
    assert [record.id for record in classroom.student_drawings(store, student)] == [first]
    for _ in range(SEND_LIMIT - 1):  # the repeat took no place under the send limit
        send(store, student)
    with pytest.raises(classroom.RateLimited):
        send(store, student)


def test_another_students_same_pixels_are_another_drawing(store, code):
    ann, bob = classroom.join(store, code), classroom.join(store, code)
    drawing = new_drawing(DIGIT)
    assert classroom.send_key(ann, drawing) != classroom.send_key(bob, drawing)
    ids = {classroom.send_drawing(store, who, drawing, intended=3, predicted=3, confidence=0.9) for who in (ann, bob)}
    assert len(ids) == 2


def _schema_without(column: str, table: str):
    """The class store's schema as a version without ``table.column`` made it."""
    from sqlalchemy import MetaData, Table

    from classroom.models import Base

    old = MetaData()
    for each in Base.metadata.sorted_tables:
        if each.name != table:
            each.to_metadata(old)
        else:
            Table(table, old, *[c._copy() for c in each.columns if c.name != column])
    return old


def test_a_store_made_before_send_keys_gains_the_column_and_keeps_its_drawings(db_url, store, clock):
    from classroom.models import Base

    Base.metadata.drop_all(store.engine)
    old_schema = _schema_without("send_key", "drawings")
    old_schema.create_all(store.engine)
    code = classroom.create_class(store, "made by the previous version")
    student = classroom.join(store, code)
    with store.engine.begin() as connection:  # a drawing the previous version stored, without a key
        class_id = connection.exec_driver_sql("SELECT id FROM classes").scalar()
        connection.execute(old_schema.tables["drawings"].insert().values(
            class_id=class_id, student_id=student, image=DIGIT.tobytes(), intended=1, predicted=1, confidence=0.9,
            model_name="classic", model_digest="", created=clock()))
    store.close()
    reopened = connect(db_url)
    assert [record.intended for record in classroom.student_drawings(reopened, student)] == [1]
    drawing = new_drawing(DIGIT)
    first = classroom.send_drawing(reopened, student, drawing, intended=3, predicted=3, confidence=0.9)
    assert classroom.send_drawing(reopened, student, drawing, intended=3, predicted=3, confidence=0.9) == first
    assert [record.intended for record in classroom.student_drawings(reopened, student)] == [1, 3]
    reopened.close()


def test_a_draft_comes_back_until_it_is_sent_and_never_after(store, code):
    student = classroom.join(store, code)
    assert classroom.unsent_draft(store, student) is None
    drawing = new_drawing(DIGIT)
    classroom.keep_draft(store, student, drawing, intended=7)  # the digit chosen, then the server died
    image, digit = classroom.unsent_draft(store, student)
    assert digit == 7 and np.array_equal(image, drawing)
    classroom.send_drawing(store, student, image, intended=7, predicted=7, confidence=0.9)  # sent again, safely
    assert classroom.unsent_draft(store, student) is None
    classroom.keep_draft(store, student, new_drawing(DIGIT), intended=3)
    withdrawn = classroom.send_drawing(store, student, classroom.unsent_draft(store, student)[0], intended=3,
                                       predicted=3, confidence=0.9)
    classroom.withdraw(store, student, withdrawn)
    assert classroom.unsent_draft(store, student) is None  # withdrawn is not "never arrived"
    with pytest.raises(ValueError, match="intended"):
        classroom.keep_draft(store, student, drawing, intended=11)
