"""Evaluation on the test set: confusion matrix, per-digit accuracy, mistakes, storage, CLI and page."""

import json

import numpy as np
import pytest
from model_zoo import dense_only, logits, prepare_quickly, seed_unnamed

from mnist_model import cli
from mnist_model.engine.data import load_mnist
from mnist_model.engine.inference import evaluate, softmax
from mnist_model.engine.storage import PRETRAINED_MODEL, json_safe, load_model, model_digest, read_card
from mnist_model.figures.evaluation import class_error_bars, confusion_heatmap, digit_tile, selected_cell
from mnist_model.lab import evaluation
from mnist_model.lab.evaluation import (
    Evaluation,
    evaluate_model,
    evaluation_from_probabilities,
    evaluation_path,
    load_or_compute_evaluation,
)

N = 1000  # test images for the engine checks


@pytest.fixture(scope="module")
def test_set():
    images, labels = load_mnist()[1]
    return images[:N], labels[:N]


@pytest.fixture(scope="module")
def classic():
    return load_model(PRETRAINED_MODEL)


@pytest.fixture(scope="module")
def evaluated(classic, test_set):
    return evaluate_model(classic, *test_set)


def test_confusion_sums_to_the_test_set_and_its_diagonal_is_the_accuracy(evaluated):
    assert evaluated.n == N and evaluated.confusion.sum() == N and evaluated.confusion.dtype.kind == "i"
    assert np.trace(evaluated.confusion) / N == pytest.approx(evaluated.accuracy)
    assert np.array_equal(evaluated.confusion.sum(axis=1), np.bincount(evaluated.labels, minlength=10))


def test_answers_and_per_digit_accuracy_match_an_independent_computation(classic, test_set, evaluated):
    images, labels = test_set
    probs = classic(images[..., None].astype("float32") / 255.0, training=False).numpy()
    said = probs.argmax(axis=1)
    per_digit = [np.mean([s == d for s, y in zip(said, labels) if y == d]) for d in range(10)]
    np.testing.assert_array_equal(evaluated.predicted, said)
    np.testing.assert_allclose(evaluated.per_class_accuracy, per_digit)
    np.testing.assert_allclose(evaluated.confidence, probs.max(axis=1), rtol=1e-5)
    one_hot = np.eye(10, dtype="float32")[labels]
    reference = evaluate(classic, images[..., None].astype("float32") / 255.0, one_hot)
    assert evaluated.loss == pytest.approx(reference["test_loss"], rel=1e-5)
    assert evaluated.accuracy == pytest.approx(reference["test_accuracy"])


def test_a_hand_made_example():
    probs = np.array([[0.7, 0.2, 0.1] + [0] * 7,  # a 0 read as 0
                      [0.1, 0.6, 0.3] + [0] * 7,  # a 0 read as 1, 60% sure
                      [0.05, 0.9, 0.05] + [0] * 7,  # a 2 read as 1, 90% sure
                      [0.2, 0.2, 0.6] + [0] * 7])  # a 2 read as 2
    result = evaluation_from_probabilities(probs, np.array([0, 0, 2, 2]))
    assert result.confusion[:3, :3].tolist() == [[1, 1, 0], [0, 0, 0], [0, 1, 1]]
    assert result.accuracy == 0.5 and result.misclassified.tolist() == [2, 1]  # surest mistake first
    assert result.per_class_accuracy[[0, 2]].tolist() == [0.5, 0.5] and np.isnan(result.per_class_accuracy[1])
    assert result.loss == pytest.approx(-np.log([0.7, 0.1, 0.05, 0.6]).mean(), rel=1e-6)
    assert result.cell(0, 1).tolist() == [1] and result.commonest_mistake() in {(0, 1), (2, 1)}
    scores = json.loads(json.dumps(json_safe(result.to_dict()), allow_nan=False))  # a digit with no images: null
    assert scores["n"] == 4 and scores["per_class_accuracy"][:3] == [0.5, None, 0.5]


def test_cells_and_mistakes_are_consistent(evaluated):
    wrong = evaluated.misclassified
    assert len(wrong) == N - np.trace(evaluated.confusion)
    assert np.all(evaluated.predicted[wrong] != evaluated.labels[wrong])
    assert np.all(np.diff(evaluated.confidence[wrong]) <= 0)  # surest first
    for true in range(10):
        for said in range(10):
            cell = evaluated.cell(true, said)
            assert len(cell) == evaluated.confusion[true, said]
            assert np.all(evaluated.labels[cell] == true) and np.all(evaluated.predicted[cell] == said)
    true, said = evaluated.commonest_mistake()
    assert true != said and evaluated.confusion[true, said] == max(
        evaluated.confusion[t, s] for t in range(10) for s in range(10) if t != s)


def test_a_model_with_logits_gets_probabilities(test_set):
    model = logits()
    result = evaluate_model(model, *test_set)
    expected = softmax(model(test_set[0][..., None].astype("float32") / 255.0).numpy())
    np.testing.assert_allclose(result.confidence, expected.max(axis=1), rtol=1e-5)
    assert result.confusion.sum() == N


@pytest.mark.parametrize("probs, labels, message", [
    (np.full((3, 10), 0.1), np.array([0, 1]), r"shaped \(2, 10\)"),
    (np.full((2, 9), 0.1), np.array([0, 1]), r"shaped \(2, 10\)"),
    (np.full((2, 10), 0.1), np.array([0, 10]), "digits 0-9"),
    (np.full((2, 10), 0.1), np.array([-1, 0]), "digits 0-9"),
    (np.full((2, 10), 0.1), np.zeros((2, 2, 2)), "digits 0-9"),
])
def test_bad_inputs_say_what_is_accepted(probs, labels, message):
    with pytest.raises(ValueError, match=message):
        evaluation_from_probabilities(probs, labels)


@pytest.mark.parametrize("cell", [(10, 0), (0, -1), (1.5, 2)])
def test_a_cell_is_two_digits(evaluated, cell):
    with pytest.raises(ValueError, match="two digits 0-9"):
        evaluated.cell(*cell)


@pytest.fixture
def counted(monkeypatch, test_set):
    """Evaluations made from 200 test images, and how many were computed rather than read."""
    calls = []
    small = (test_set[0][:200], test_set[1][:200])
    monkeypatch.setattr(evaluation, "load_mnist", lambda: ((None, None), small))
    real = evaluation.evaluate_model
    monkeypatch.setattr(evaluation, "evaluate_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_stored_beside_the_model_reloaded_and_recomputed_when_the_file_changes(tmp_path, counted):
    path = tmp_path / "net.keras"
    seed_unnamed().save(path)
    progress = []
    first = load_or_compute_evaluation(load_model(path), path, on_progress=progress.append)
    assert evaluation_path(path) == tmp_path / "net.evaluation.npz" and evaluation_path(path).exists()
    assert len(counted) == 1 and progress[-1] == 1.0 and progress == sorted(progress)
    again = load_or_compute_evaluation(load_model(path), path)
    assert len(counted) == 1
    for field in ("labels", "predicted", "confidence"):
        np.testing.assert_array_equal(getattr(again, field), getattr(first, field))
    assert again.loss == first.loss
    dense_only().save(path)  # a different model at the same path
    load_or_compute_evaluation(load_model(path), path)
    assert len(counted) == 2
    with np.load(evaluation_path(path)) as saved:
        assert str(saved["model_sha256"]) == model_digest(path)


def test_a_damaged_or_unwritable_store_still_gives_the_evaluation(tmp_path, counted, monkeypatch):
    path = tmp_path / "net.keras"
    seed_unnamed().save(path)
    evaluation_path(path).write_bytes(b"not an npz")
    assert load_or_compute_evaluation(load_model(path), path).n == 200 and len(counted) == 1

    def read_only(*_):
        raise PermissionError("read-only folder")

    evaluation_path(path).unlink()
    monkeypatch.setattr(evaluation, "atomic_write", read_only)
    assert load_or_compute_evaluation(load_model(path), path).n == 200
    assert not evaluation_path(path).exists() and len(counted) == 2


def test_the_bundled_models_evaluation_is_shipped_small_and_current():
    stored = evaluation_path(PRETRAINED_MODEL)
    assert stored.exists() and stored.stat().st_size < 100_000
    result = evaluation._read_evaluation(stored, model_digest(PRETRAINED_MODEL))
    assert isinstance(result, Evaluation) and result.n == 10_000
    assert result.accuracy == pytest.approx(read_card(PRETRAINED_MODEL)["test_accuracy"], abs=1e-6)


def strict_json(text: str) -> dict:
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_cli_evaluate_json_adds_per_digit_accuracy_and_the_confusion_matrix(capsys):
    assert cli.main(["evaluate", "--json"]) == 0  # in this process: tests/test_cli.py runs the real command
    scores = strict_json(capsys.readouterr().out)
    assert {"test_accuracy", "test_loss", "n", "model", "per_class_accuracy", "confusion_matrix"} <= set(scores)
    confusion = np.array(scores["confusion_matrix"])
    assert confusion.shape == (10, 10) and all(isinstance(c, int) for row in scores["confusion_matrix"] for c in row)
    assert confusion.sum() == scores["n"] == 10_000
    assert np.trace(confusion) / scores["n"] == pytest.approx(scores["test_accuracy"])
    assert len(scores["per_class_accuracy"]) == 10
    np.testing.assert_allclose(scores["per_class_accuracy"], np.diag(confusion) / confusion.sum(axis=1))
    shipped = evaluation._read_evaluation(evaluation_path(PRETRAINED_MODEL), model_digest(PRETRAINED_MODEL))
    np.testing.assert_array_equal(confusion, shipped.confusion)


def test_cli_evaluate_prints_the_confusion_table(tmp_path, capsys):
    path = tmp_path / "dense.keras"
    dense_only().save(path)
    assert cli.main(["evaluate", "--model", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("true \\ said"))):]
    assert "test accuracy" in lines[0] and len(table) == 11
    assert sum(int(n) for row in table[1:] for n in row.split()[1:11]) == 10_000


@pytest.mark.parametrize("selection, cell", [
    (None, None),
    ({"points": [], "point_indices": [], "box": [], "lasso": []}, None),
    ({"points": [{"curve_number": 2, "point_index": 94, "x": 4, "y": 9,  # as Streamlit 1.67 sends a click
                  "customdata": {"0": 9, "1": 4, "2": 5, "3": 0.005}}], "point_indices": [94]}, (9, 4)),
    ({"points": [{"x": 4, "y": 9}, {"x": 0, "y": 0}]}, (0, 0)),  # the last one counts
    ({"points": [{"x": "4", "y": 9}, {"x": 12.5, "y": 0}]}, None),  # not a cell's marker
])
def test_a_click_on_the_matrix_picks_its_cell(selection, cell):
    assert selected_cell(selection) == cell


def test_every_cell_of_the_heatmap_can_be_clicked_and_shows_its_count(evaluated):
    fig = confusion_heatmap(evaluated.confusion)
    markers = [t for t in fig.data if t.type == "scatter"][0]
    cells = {(int(c[0]), int(c[1])): text for c, text in zip(markers.customdata, markers.text)}
    assert len(cells) == 100
    assert all(f"the true digit {t}, the digit the model said {s}: {evaluated.confusion[t, s]} image" in cells[t, s]
               for t, s in cells)
    right = fig.data[0]
    assert right.text[3][3] == str(evaluated.confusion[3, 3]) and right.text[3][4] == ""


def test_a_digit_nobody_drew_has_no_colour_and_the_axes_say_what_the_caption_says():
    confusion = np.zeros((10, 10), int)
    confusion[1, 1], confusion[1, 7], confusion[0, 0] = 1, 1, 2
    fig = confusion_heatmap(confusion, true_words="the digit a student meant", said_words="the digit the model read",
                            noun="drawing")
    right = fig.data[0]
    assert np.isnan(right.z[3][3]) and right.text[3][3] == ""  # nobody sent a 3: blank, not a pale-green 0
    assert right.z[0][0] == 2 and right.text[0][0] == "2"
    texts = dict(zip(map(tuple, fig.data[2].customdata.astype(int)), fig.data[2].text))
    assert texts[1, 7] == "the digit a student meant 1, the digit the model read 7: 1 drawing (50.0% of the 1s)"
    assert texts[3, 3].endswith("0 drawings (no 3s at all)")
    assert fig.layout.yaxis.title.text == "the digit a student meant"
    assert fig.layout.xaxis.title.text == "the digit the model read"


def test_mistake_bars_start_at_zero_so_99_0_and_99_7_percent_look_different_and_tiles_are_framed(evaluated):
    bars = class_error_bars(evaluated.confusion.sum(axis=1), np.diag(evaluated.confusion))
    assert bars.layout.yaxis.range[0] == 0 and bars.layout.yaxis.dtick >= 1 and bars.layout.yaxis.tickformat == "d"
    close = class_error_bars(np.full(10, 1000), np.array([990, 997, 1000] + [995] * 7))  # 99.0%, 99.7%, 100%
    assert list(close.data[0].y[:3]) == [10, 3, 0]  # bars of 10, 3 and 0: the difference shows
    assert list(close.data[0].text[:3]) == ["10", "3", "0"]
    assert close.data[0].customdata[0] == "0: 10 mistakes in 1,000 (1.0% read wrong)"
    assert close.data[0].customdata[2] == "2: 0 mistakes in 1,000 (0% read wrong)"
    assert close.data[0].marker.color[0] != close.data[0].marker.color[1]  # the digit with the most stands out
    tile = digit_tile(np.zeros((28, 28), np.uint8), correct=False, scale=3, border=3)
    assert tile.shape == (90, 90, 3) and tile[0, 0].tolist() == [0xC5, 0x1B, 0x1B] and tile[45, 45].sum() == 0


def test_the_page_shows_the_bundled_models_accuracy_and_its_commonest_mix_up(app):
    app.switch_page("views/evaluation.py").run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Test accuracy"] == "99.44%" and metrics["Mistakes"] == "56"
    bars = json.loads(app.get_by_key("eval_classes").proto.spec)["data"][0]
    assert sum(bars["y"]) == 56  # the mistakes, per digit
    assert any(c.value.startswith("Mistakes per digit, counted from 0: most on the") for c in app.caption)
    assert any("**7s read as 2**: 6 test digits" in m.value for m in app.markdown)  # commonest mix-up, until a click
    sure = [c for image in app.get("image") for c in image.proto.imgs if c.caption]
    assert sure and not any("100%" in c.caption for c in sure)  # ">99% sure", never a certainty


def test_the_page_shows_the_evaluation_the_models_preparation_stored(app, tmp_path):
    path = tmp_path / "flat.keras"
    dense_only().save(path)
    prepare_quickly(path)
    app.run()
    app.selectbox(key="model_path").select(str(path)).run()
    app.switch_page("views/evaluation.py").run()
    assert not app.exception
    accuracy = float(next(m.value for m in app.metric if m.label == "Test accuracy").rstrip("%")) / 100
    stored = evaluation._read_evaluation(evaluation_path(path), model_digest(path))
    assert stored is not None and accuracy == pytest.approx(stored.accuracy, abs=5e-5)


def test_the_page_never_evaluates_in_the_server_it_asks_for_the_preparation_again(app, tmp_path, monkeypatch):
    from server import resources

    path = tmp_path / "new.keras"
    dense_only().save(path)
    prepare_quickly(path)
    evaluation_path(path).unlink()  # stored results lost after the model was prepared
    asked = []
    monkeypatch.setattr(resources.preparer(), "prepare", asked.append)
    monkeypatch.setattr(evaluation, "evaluate_model", lambda *a, **k: pytest.fail("evaluated in the server"))
    app.run()
    app.selectbox(key="model_path").select(str(path)).run()
    app.switch_page("views/evaluation.py").run()
    assert not app.exception and not app.metric
    assert "still preparing its answers on the 10,000 test digits" in app.info[-1].value and path in asked
