"""``python -m classroom``: prepare a class before the lesson, export its digits after it."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import classroom
from classroom.db import ENV_VAR

pytest_plugins = ["classroom_support"]

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "classroom", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, **(env or {})})


def test_create_prints_the_code_of_a_new_open_class(db_url):
    result = cli("create", "--db", db_url, "7B maths")
    assert result.returncode == 0, result.stderr
    code = result.stdout.strip()
    store = classroom.connect(db_url)
    info = classroom.find_class(store, code)
    store.close()
    assert (info.name, info.is_open) == ("7B maths", True)


def test_export_writes_the_npz_and_a_csv_beside_it(db_url, tmp_path):
    code = cli("create", "--db", db_url, "export me").stdout.strip()
    store = classroom.connect(db_url)
    student = classroom.join(store, code)
    for digit in (2, 5, 8):
        classroom.send_drawing(store, student, np.full((28, 28), digit * 10, np.uint8), intended=digit,
                               predicted=digit, confidence=0.9)
    classroom.close_class(store, code)  # a closed class can still be exported
    store.close()
    out = tmp_path / "homework.npz"
    result = cli("export", "--db", db_url, "--class", code.lower(), "--out", out)
    assert result.returncode == 0, result.stderr
    assert "3 drawings" in result.stdout and code in result.stdout
    with np.load(out) as data:
        assert data["x"].shape == (3, 28, 28) and data["x"].dtype == np.uint8
        assert data["y"].tolist() == [2, 5, 8] and data["x"][1, 0, 0] == 50
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert [(r["student"], r["intended"]) for r in rows] == [("1", "2"), ("1", "5"), ("1", "8")]
    assert student not in out.with_suffix(".csv").read_text()  # the secret id that withdraws drawings stays secret


def test_export_never_overwrites_without_force(db_url, tmp_path):
    code = cli("create", "--db", db_url, "twice").stdout.strip()
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "lesson.npz"
    for existing in (out, out.with_suffix(".csv")):
        existing.write_text("keep me")
        result = cli("export", "--db", db_url, "--class", code, "--out", out)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"{existing} already exists; nothing was written" in result.stderr and "--force" in result.stderr
        assert existing.read_text() == "keep me" and len(list(folder.iterdir())) == 1
        existing.unlink()
    out.write_text("old")
    out.with_suffix(".csv").write_text("old")
    result = cli("export", "--db", db_url, "--class", code, "--out", out, "--force")
    assert result.returncode == 0, result.stderr
    with np.load(out) as data:
        assert data["x"].shape == (0, 28, 28)


def test_db_defaults_to_the_store_the_app_uses(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    code = cli("create", "from the env", env={ENV_VAR: url}).stdout.strip()
    store = classroom.connect(url)
    assert classroom.find_class(store, code).name == "from the env"
    store.close()


@pytest.mark.parametrize(("args", "message"), [
    (["export", "--class", "NOPE22", "--out", "{tmp}/x.npz"], "error: No class has the code 'NOPE22'"),
    (["export", "--class", "{code}", "--out", "{tmp}/missing/x.npz"], "error: .*No such file or directory"),
    (["export", "--class", "{code}", "--out", "{tmp}/x.csv"], "--out must end in .npz"),
    (["create", "--db", "sqlite:///{tmp}/missing/c.db", "x"], "error: The class store cannot be opened: the folder"),
    (["create", "--db", "postgresql+psycopg://u:secret@127.0.0.1:1/db", "x"], "error: The class store is unavailable"),
])
def test_bad_requests_exit_2_with_a_one_line_reason(tmp_path, args, message):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    store = classroom.connect(url)
    code = classroom.create_class(store, "c")
    store.close()
    result = cli(*[a.format(tmp=tmp_path, code=code) for a in args], env={ENV_VAR: url})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert "secret" not in result.stderr
