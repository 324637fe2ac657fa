import argparse
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_training_job import _children

from mnist_model.engine.data import load_mnist
from mnist_model.figures.data_efficiency import accuracy_vs_size
from mnist_model.lab import data_efficiency, data_efficiency_worker
from mnist_model.lab.data_efficiency import (
    SIZES,
    DataEfficiency,
    EfficiencyPlan,
    Run,
    balanced_subset,
    cli_data_efficiency,
    load_results,
    results_table,
    run_experiment,
    save_results,
)
from server.live_run import LiveRunState
from ui.data_efficiency import duration, how_long, time_left

PAGE = "views/data_efficiency.py"
TINY_PLAN = EfficiencyPlan(sizes=(50, 600), seeds=2, epochs=1, min_steps=3)


@pytest.fixture(scope="module")
def raw_mnist():
    return load_mnist()


@pytest.fixture(scope="module")
def tiny_raw(raw_mnist):
    """600 training and 200 test images, uint8 with integer labels, as load_mnist gives them."""
    (x_train, y_train), (x_test, y_test) = raw_mnist
    return (x_train[:600], y_train[:600]), (x_test[:200], y_test[:200])


@pytest.fixture(scope="module")
def tiny_experiment(tiny_raw):
    progress, finished = [], []
    results = run_experiment(tiny_raw, TINY_PLAN, on_progress=lambda *report: progress.append(report),
                             on_run=finished.append)
    return results, progress, finished


@pytest.mark.parametrize("size", [10, 500, 1_000, 5_003, 54_210])
def test_subsets_are_balanced_seeded_and_nested(raw_mnist, size):
    labels = raw_mnist[0][1]
    subset = balanced_subset(labels, size, seed=3)
    counts = np.bincount(labels[subset], minlength=10)
    assert len(subset) == len(set(subset)) == size and counts.max() - counts.min() <= 1
    assert np.array_equal(subset, balanced_subset(labels, size, seed=3))
    assert not np.array_equal(subset, balanced_subset(labels, size, seed=4))
    assert set(balanced_subset(labels, size // 2, seed=3)) <= set(subset)


def test_a_digit_that_runs_out_hands_its_share_to_the_others():
    labels = np.array([0] * 2 + [d for d in range(1, 10) for _ in range(20)])
    counts = np.bincount(labels[balanced_subset(labels, 38, seed=0)], minlength=10)
    assert counts[0] == 2 and set(counts[1:]) == {4}
    assert len(balanced_subset(labels, len(labels), seed=0)) == len(labels)


@pytest.mark.parametrize("call, message", [
    (lambda: balanced_subset(np.zeros(50, int), 0, 0), "between 1 and the 50 images"),
    (lambda: balanced_subset(np.zeros(50, int), 51, 0), "between 1 and the 50 images"),
    (lambda: EfficiencyPlan(seeds=0), "seeds must be a positive integer"),
    (lambda: EfficiencyPlan(min_steps=-1), "min_steps must be a positive integer"),
    (lambda: EfficiencyPlan(sizes=()), "sizes must be positive"),
    (lambda: EfficiencyPlan().runs(1_000), "sizes [2000, 5000, 10000, 60000] exceed the 1,000 training images"),
])
def test_bad_plans_say_what_is_accepted(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)


@pytest.mark.parametrize("size, epochs, steps", [
    (500, 250, 2_000),  # 5 epochs would be 40 steps: the floor of 2,000 steps applies
    (2_000, 63, 2_016),
    (10_000, 13, 2_041),
    (60_000, 5, 4_690),  # exactly the seed recipe
])
def test_every_size_gets_five_epochs_or_two_thousand_steps(size, epochs, steps):
    assert (EfficiencyPlan().epochs_for(size), EfficiencyPlan().steps_for(size)) == (epochs, steps)


def test_the_experiment_trains_every_size_seed_and_network(tiny_experiment):
    results, progress, finished = tiny_experiment
    assert results.sizes == [50, 600]
    for architecture in ("convnet", "dense"):
        assert [len(seeds) for seeds in results.accuracies(architecture)] == [2, 1]  # one seed on all images
        assert all(0.1 < a <= 1.0 for a in results.mean_accuracy(architecture))
    assert [(r.size, r.seed, r.architecture) for r in finished] == [
        (50, 0, "convnet"), (50, 0, "dense"), (50, 1, "convnet"), (50, 1, "dense"), (600, 0, "convnet"),
        (600, 0, "dense")]
    assert [r.steps for r in finished] == [3, 3, 3, 3, 10, 10] and finished[0].epochs == 3
    total = 4 * 3 + 2 * 10
    assert progress[-1][:3] == (total, total, "the dense network on 600 images")
    assert all(left is None for *_, left in progress)  # runs of 3 and 10 steps are too short to measure a speed


def test_results_survive_a_json_round_trip(tiny_experiment, tmp_path):
    results = tiny_experiment[0]
    path = save_results(results, tmp_path / "efficiency.json")
    saved = json.loads(path.read_text())
    assert load_results(path) == results
    assert saved["sizes"] == [50, 600] and len(saved["conv_accuracy_per_seed"][0]) == 2
    assert saved["conv_accuracy"][1] == saved["conv_accuracy_per_seed"][1][0]
    assert saved["recipe"]["optimizer"] == "rmsprop" and saved["recipe"]["min_steps"] == 3


def test_the_text_table_has_a_row_per_size(tiny_experiment):
    header, small, full = (line.split() for line in results_table(tiny_experiment[0]).splitlines())
    assert header == ["images", "convnet", "dense", "seeds"] and small[::3] == ["50", "2"] and full[::3] == ["600", "1"]


@pytest.mark.parametrize("content, message", [(None, "No data-efficiency results"),
                                              ("{}", "does not hold data-efficiency results"),
                                              ("not json", "does not hold data-efficiency results")])
def test_missing_or_foreign_results_are_refused_with_a_message(tmp_path, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_results(path)


def test_the_bundled_results_are_the_documented_experiment():
    results = load_results()
    assert results.plan == EfficiencyPlan() and results.sizes == list(SIZES)
    assert [len(s) for s in results.accuracies("convnet")] == [3, 3, 3, 3, 3, 1]
    conv, dense = results.mean_accuracy("convnet"), results.mean_accuracy("dense")
    assert conv[0] - dense[0] > 0.03 and conv[-1] > 0.985  # the seed recipe on 60,000: about 98.9%
    assert conv == sorted(conv)


def test_figure_draws_seeds_means_and_live_runs(tiny_experiment):
    results = tiny_experiment[0]
    live = [Run("convnet", 50, 7, 3, 3, 0.5, 1.0, 1.0), Run("dense", 50, 7, 3, 3, 0.4, 1.2, 1.0)]
    fig = accuracy_vs_size(results, live)
    names = [trace.name for trace in fig.data]
    assert names == ["convnet, each run", "convnet", "your convnet", "dense network, each run", "dense network",
                     "your dense network"]
    assert list(fig.data[0].x) == [50, 50, 600] and fig.layout.xaxis.type == "log"
    errors = accuracy_vs_size(results, metric="error")
    assert errors.layout.yaxis.type == "log" and errors.data[1].y[0] == pytest.approx(1 - results.mean_accuracy(
        "convnet")[0])
    with pytest.raises(ValueError, match="metric must be one of"):
        accuracy_vs_size(results, metric="loss")


def test_cli_prints_json_and_writes_the_results(tiny_raw, tmp_path, capsys):
    npz = tmp_path / "tiny.npz"
    (x_train, y_train), (x_test, y_test) = tiny_raw
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    args = argparse.Namespace(json=True, data=str(npz), sizes=[20], seeds=1, min_steps=2,
                              out=str(tmp_path / "out.json"))
    assert cli_data_efficiency(args, []) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["sizes"] == [20] and len(printed["conv_accuracy"]) == len(printed["dense_accuracy"]) == 1
    assert printed["recipe"]["rule"] == "5 epochs, or more to reach 2 gradient steps"
    assert load_results(args.out).to_dict()["runs"] == printed["runs"]


def test_cli_refuses_sizes_larger_than_the_data_with_a_message(tiny_raw, tmp_path):
    npz = tmp_path / "tiny.npz"
    (x_train, y_train), (x_test, y_test) = tiny_raw
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    result = subprocess.run([sys.executable, "-m", "mnist_model", "experiment", "data-efficiency", "--data", npz],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "exceed the 600 training images available" in result.stderr


def test_page_shows_the_bundled_results_at_once(app):
    app.switch_page(PAGE).run()
    assert not app.exception
    results = load_results()
    conv, dense = results.mean_accuracy("convnet"), results.mean_accuracy("dense")
    values = [m.value for m in app.metric]
    assert values == [f"{conv[0]:.1%}", f"{dense[0]:.1%}", f"{conv[-1]:.1%}", f"{dense[-1]:.1%}"]
    assert any("2,000 steps" in caption.value for caption in app.caption)
    assert len(app.get("plotly_chart")) == 1


@pytest.fixture
def quick_bundle(tmp_path, monkeypatch):
    """Bundled results whose recipe trains a live run in a few steps."""
    plan = EfficiencyPlan(sizes=(500, 1_000), seeds=1, epochs=1, min_steps=2)
    runs = tuple(Run(a, size, 0, 1, 8, acc, 0.5, 1.0) for size in plan.sizes
                 for a, acc in (("convnet", 0.9), ("dense", 0.8)))
    path = save_results(DataEfficiency(plan, runs), tmp_path / "bundle.json")
    monkeypatch.setattr(data_efficiency, "BUNDLED_RESULTS", path)
    return path


@pytest.fixture
def tiny_npz(tiny_raw, tmp_path, monkeypatch):
    """$MNIST_NPZ at 600 training and 200 test images, for the live run's worker process too."""
    npz = tmp_path / "tiny.npz"
    (x_train, y_train), (x_test, y_test) = tiny_raw
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    monkeypatch.setenv("MNIST_NPZ", str(npz))
    return npz


@pytest.fixture
def server_live_run():
    """The server's live run, fresh for each test and stopped after it."""
    from server.live_run import live_run

    live_run.clear()
    job = live_run()
    yield job
    job.stop()
    wait_for_live_run(job)
    live_run.clear()


def wait_for_live_run(job, timeout=180):
    deadline = time.monotonic() + timeout
    while job.state().active and time.monotonic() < deadline:
        time.sleep(0.1)
    return job.state()


def live_request(size=50, seed=1_234):
    return {"plan": dataclasses.asdict(EfficiencyPlan(sizes=(500,), seeds=1, epochs=1, min_steps=2)), "size": size,
            "seed": seed}


def test_the_live_worker_trains_both_networks_on_fresh_digits(tiny_npz):
    events = []
    outcome = data_efficiency_worker.run_job(live_request(), events.append, threading.Event())
    assert outcome["event"] == "done", outcome["message"]
    runs = [Run(**run) for run in outcome["runs"]]
    assert [(r.architecture, r.size, r.seed, r.steps) for r in runs] == [("convnet", 50, 1_234, 2),
                                                                         ("dense", 50, 1_234, 2)]
    assert all(0 <= r.test_accuracy <= 1 for r in runs)
    assert events[-1] == {"event": "progress", "done": 4, "total": 4, "label": "the dense network on 50 images",
                          "seconds_left": None}  # two steps a network: too few to measure a speed
    assert json.loads(json.dumps(outcome)) == outcome  # what the process sends the server


@pytest.mark.parametrize("request_, message", [
    (live_request(size=601), "exceed the 600 training images available"),
    (live_request() | {"plan": {"seeds": 0}}, "seeds must be a positive integer"),
])
def test_a_live_run_that_cannot_train_says_why(tiny_npz, request_, message):
    outcome = data_efficiency_worker.run_job(request_, lambda event: None, threading.Event())
    assert outcome["event"] == "failed" and message in outcome["message"]


def test_the_live_run_trains_in_its_own_low_priority_process_one_at_a_time(tiny_npz, server_live_run):
    plan = EfficiencyPlan(sizes=(500,), seeds=1, epochs=1, min_steps=2_000)  # long enough to catch it running
    assert server_live_run.start(plan, 500, owner="first")
    assert not server_live_run.start(plan, 500, owner="second")  # a second user is refused, nothing started
    deadline = time.monotonic() + 120
    while server_live_run.state().done == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    state = server_live_run.state()
    assert state.status == "running" and state.owner == "first" and state.total == 2 * 8 * 250
    assert 0 < state.fraction < 1 and state.label == "the convnet on 500 images"
    workers = [pid for pid in _children(os.getpid()) if "data_efficiency_worker" in _cmdline(pid)]
    assert len(workers) == 1 and os.getpriority(os.PRIO_PROCESS, workers[0]) == 19
    while server_live_run.state().seconds_left is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server_live_run.state().seconds_left > 0  # measured in the worker as it trains
    server_live_run.stop()
    state = wait_for_live_run(server_live_run)
    assert state.status == "cancelled" and state.runs == () and "nothing was added" in state.message


def test_a_live_run_shows_progress_goes_on_while_the_student_is_away_and_lands_on_the_plot(
        tiny_npz, server_live_run, app, quick_bundle):
    app.switch_page(PAGE).run()
    assert [m.value for m in app.metric] == ["90.0%", "80.0%", "90.0%", "80.0%"]
    assert any("depends on how busy the server is" in m.value for m in app.markdown)  # no number unmeasured
    app.button(key="live_train").click().run()
    assert not app.exception
    assert server_live_run.state().active
    assert app.button(key="live_train").disabled and not app.button(key="live_stop").disabled
    bar = app.get("progress")[0].proto
    assert bar.text.startswith(("Starting", "Training the"))
    app.switch_page("views/architecture.py").run()  # off to another page while it trains
    assert not app.exception
    assert wait_for_live_run(server_live_run).status == "done"
    app.switch_page(PAGE).run()
    assert not app.exception
    live = app.session_state["data_efficiency_live"]
    assert [(r.architecture, r.size, r.steps) for r in live] == [("convnet", 500, 8), ("dense", 500, 8)]
    assert live[0].seed >= 1_000 and 0 < live[0].test_accuracy <= 1
    assert f"convnet **{live[0].test_accuracy:.1%}**" in app.success[0].value
    assert "your convnet" in app.get("plotly_chart")[0].proto.spec
    assert not app.get("progress") and not app.button(key="live_train").disabled
    assert any("The last run on this server took" in m.value for m in app.markdown)
    app.run()
    assert len(app.session_state["data_efficiency_live"]) == 2  # taken once, not again on every rerun


def test_a_second_user_is_told_the_server_is_busy_and_gets_nothing_of_the_other_run(
        tiny_npz, server_live_run, app, quick_bundle):
    app.switch_page(PAGE).run()
    assert not app.button(key="live_train").disabled and not app.get("progress")
    assert server_live_run.start(data_efficiency.load_results(quick_bundle).plan, 500, owner="another session")
    app.button(key="live_train").click().run()  # clicked before this page showed the other run
    assert not app.exception and "Someone else is training" in app.toast[0].value
    assert "Someone else is training" in app.info[0].value
    assert "Someone else's run, 500 digits" in app.get("progress")[0].proto.text
    assert app.button(key="live_train").disabled and app.button(key="live_stop").disabled
    assert server_live_run.state().owner == "another session"
    assert wait_for_live_run(server_live_run).status == "done"
    app.run()
    assert not app.exception and not app.info and not app.button(key="live_train").disabled
    assert "data_efficiency_live" not in app.session_state


def test_the_student_who_started_a_live_run_can_stop_it(tiny_npz, server_live_run, app, quick_bundle, monkeypatch):
    monkeypatch.setattr(data_efficiency, "BUNDLED_RESULTS", save_results(DataEfficiency(
        EfficiencyPlan(sizes=(500, 1_000), seeds=1, min_steps=5_000), load_results(quick_bundle).runs),
        quick_bundle.with_name("long.json")))  # a run long enough to stop
    app.switch_page(PAGE).run()
    app.button(key="live_train").click().run()
    app.button(key="live_stop").click().run()
    assert not app.exception and server_live_run.state().status in ("stopping", "cancelled")
    assert wait_for_live_run(server_live_run).status == "cancelled"
    app.run()
    assert "nothing was added to the plot" in app.warning[0].value
    assert "data_efficiency_live" not in app.session_state and not app.button(key="live_train").disabled


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_page_without_results_says_how_to_make_them(app, tmp_path, monkeypatch):
    monkeypatch.setattr(data_efficiency, "BUNDLED_RESULTS", tmp_path / "missing.json")
    app.switch_page(PAGE).run()
    assert not app.exception and not app.metric
    assert "python -m mnist_model experiment data-efficiency" in app.info[0].value


def test_results_of_a_single_size_show_one_headline(app, tmp_path, monkeypatch):
    plan = EfficiencyPlan(sizes=(500,), seeds=1)
    runs = (Run("convnet", 500, 0, 250, 2_000, 0.93, 0.3, 20.0), Run("dense", 500, 0, 250, 2_000, 0.87, 0.5, 9.0))
    monkeypatch.setattr(data_efficiency, "BUNDLED_RESULTS", save_results(DataEfficiency(plan, runs),
                                                                         tmp_path / "one.json"))
    app.switch_page(PAGE).run()
    assert not app.exception and [m.value for m in app.metric] == ["93.0%", "87.0%"]


def test_a_student_in_a_class_cannot_start_a_live_run(app):
    app.session_state["class_student"] = {"code": "ABC123", "name": "9B", "student": "x", "nickname": ""}
    app.switch_page(PAGE).run()
    assert not app.exception and app.button(key="live_train").disabled
    assert any("only the teacher trains" in c.value for c in app.caption)


@pytest.mark.parametrize("seconds, said", [(0.4, "0 s"), (42.4, "42 s"), (59.6, "1 min"), (154, "2 min 35 s"),
                                           (3_601, "60 min")])
def test_durations_read_as_people_say_them(seconds, said):
    assert duration(seconds) == said


def test_the_time_left_is_said_only_once_measured():
    assert time_left(LiveRunState("running", seconds_left=None)) == ""
    assert time_left(LiveRunState("running", seconds_left=95.0)) == ", about 1 min 35 s left"
    assert how_long(LiveRunState("done", started=1_000.0, finished=1_145.0)).startswith(
        "The last run on this server took 2 min 25 s")


def test_seconds_per_step_of_each_network_come_from_its_runs():
    runs = (Run("convnet", 500, 0, 1, 100, 0.9, 0.5, 4.0), Run("convnet", 500, 1, 1, 100, 0.9, 0.5, 6.0),
            Run("dense", 500, 0, 1, 100, 0.8, 0.5, 1.0))
    assert DataEfficiency(EfficiencyPlan(sizes=(500,)), runs).seconds_per_step() == {"convnet": 0.05, "dense": 0.01}
