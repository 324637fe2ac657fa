import json
import subprocess
import sys

import pytest
from browser_support import UNIPEN, load_unipen, render_strokes, stroke_paths

from mnist_model.engine.storage import read_card


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mnist_model", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_summary_prints_the_seed_table_and_no_native_noise():
    result = cli("summary")
    assert "Total params: 93,322" in result.stdout and "(None, 26, 26, 32)" in result.stdout
    assert result.stderr == ""  # TensorFlow's C++ start-up lines are kept off the terminal


def test_evaluate_json_shows_the_bundled_model_above_99_4_percent():
    result = cli("evaluate", "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["n"] == 10_000 and scores["test_accuracy"] >= 0.994 and 0 < scores["test_loss"] < 0.05


@pytest.mark.skipif(not UNIPEN.exists(), reason=f"real pen strokes not found at {UNIPEN}")
def test_predict_json_reads_pen_drawn_digits_and_reports_bad_files(tmp_path):
    samples = load_unipen()[::250][:12]
    files = []
    for i, sample in enumerate(samples):
        path = tmp_path / f"{i}_{sample['label']}.png"
        render_strokes(stroke_paths(sample, 280), 280).convert("RGB").save(path)
        files.append(path)
    blank, junk = tmp_path / "blank.png", tmp_path / "junk.png"
    render_strokes([], 280).save(blank)
    junk.write_text("not an image")
    result = cli("predict", "--json", *files, blank, junk)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    by_file = {line["file"]: line for line in lines}
    right = sum(by_file[str(f)]["digit"] == s["label"] for f, s in zip(files, samples))
    assert right >= 10, lines
    assert all(len(by_file[str(f)]["probabilities"]) == 10 for f in files)
    assert by_file[str(blank)]["digit"] is None
    assert "not a readable image" in by_file[str(junk)]["error"]


def test_train_writes_a_model_and_its_card(tmp_path):
    out = tmp_path / "quick.keras"
    result = cli("train", "--epochs", "1", "--limit", "300", "--filters", "4", "8", "8", "--out", out)
    assert result.returncode == 0, result.stderr
    card = read_card(out)
    assert out.exists() and card["config"]["train_limit"] == 300 and card["params"] < 93_322
    assert card["command"] == f"python -m mnist_model train --epochs 1 --limit 300 --filters 4 8 8 --out {out}"
    assert "test accuracy" in result.stdout


def test_errors_are_messages_not_tracebacks(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_text("x")
    result = cli("evaluate", "--model", bad)
    assert result.returncode == 2 and "not a Keras model" in result.stderr and "Traceback" not in result.stderr
    result = cli("train", "--epochs", "0")
    assert result.returncode == 2 and "epochs must be positive" in result.stderr
