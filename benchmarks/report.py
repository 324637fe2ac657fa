"""The README table, generated from the results JSON: each figure, its goal, pass or miss."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    key: str  # the figure's key in the results JSON
    label: str  # what was measured, in words
    fmt: str  # format spec for the figure, e.g. "{:.1f} ms"
    goal: str = ""  # the goal in words; empty when the figure is context for another
    met: Callable[[float], bool] | None = None  # whether the figure meets the goal


ROWS = (
    Row("inference_ms_p50", "Drawing → prediction + all activations (app path), p50", "{:.2f} ms", "< 5 ms",
        lambda v: v < 5),
    Row("inference_ms_p95", "… p95", "{:.2f} ms"),
    Row("naive_ms_p50", "Same result the tutorial way (`predict` per layer), p50", "{:.0f} ms"),
    Row("inference_speedup", "Speed-up over the tutorial way", "{:.0f}×", "≥ 20×", lambda v: v >= 20),
    Row("forward_flops", "FLOPs per forward pass (multiply-add = 2)", "{:,.0f}"),
    Row("batched_gflops", "Batched inference throughput", "{:.1f} GFLOP/s"),
    Row("matmul_peak_gflops", "float32 matmul 2048² on the same cores", "{:.1f} GFLOP/s"),
    Row("flops_ratio", "Batched inference / matmul peak", "{:.0%}"),
    Row("train_samples_per_s_app", "Training, app path (`train()` + progress callback)", "{:,.0f} img/s"),
    Row("train_samples_per_s_plain", "Training, seed notebook (`model.fit`)", "{:,.0f} img/s"),
    Row("train_ratio", "App path / notebook", "{:.2f}", "≥ 0.95", lambda v: v >= 0.95),  # same work: parity
    Row("browser_stroke_to_prediction_ms_p50", "Browser: pen lift → prediction shown, p50", "{:.0f} ms",
        "< 300 ms", lambda v: v < 300),
    Row("browser_stroke_to_prediction_ms_p95", "… p95", "{:.0f} ms"),
    Row("cold_start_s", "Cold start: `streamlit run` → page ready, + pen lift → first prediction", "{:.1f} s",
        "≤ 5 s", lambda v: v <= 5),
    Row("rss_growth_mb_10k", "Memory growth over {memory_calls:,} predictions (after warm-up)", "{:.1f} MB",
        "< 50 MB", lambda v: v < 50),
    Row("concurrent_sessions_p95_ms", "{concurrent_sessions} sessions drawing at once (websocket clients), server "
        "on one core, p95",
        "{:.0f} ms", "< 1 s", lambda v: v < 1000),
    Row("concurrent_sessions_training_p95_ms", "… while a model trains on the server, p95", "{:.0f} ms", "< 2 s",
        lambda v: v < 2000),
    Row("concurrent_wrong_answers", "… answers not for the session's own drawing", "{:d}", "0", lambda v: v == 0),
    Row("concurrent_timeouts", "… drawings unanswered within {concurrent_timeout_s:.0f} s", "{:d}", "0",
        lambda v: v == 0),
    Row("server_cpu_s_per_drawing", "Server CPU per drawing (draw + Clear), idle", "{:.4f} s"),
    Row("server_cpu_bare_ratio", "… as a multiple of the bare work (preprocess + forward: the first row's p50)",
        "{:.1f}×", "≤ 4×", lambda v: v <= 4),
    Row("server_cpu_s_per_drawing_training", "… while a model trains (its own process not counted)", "{:.4f} s"),
    Row("concurrent_one_core_p95_ms", "{concurrent_one_core_sessions} sessions drawing at once, server held to one "
        "core, p95", "{:.0f} ms", "< 1 s", lambda v: v < 1000),
    Row("concurrent_one_core_timeouts", "… drawings unanswered within {concurrent_timeout_s:.0f} s", "{:d}", "0",
        lambda v: v == 0),
    Row("server_cpu_s_per_drawing_one_core", "… server CPU per drawing", "{:.4f} s"),
    Row("concurrent_slow_p95_ms", "{concurrent_sessions} sessions, the server's core slowed {concurrent_slow_factor}× "
        "(a CFS quota: the slower laptop), p95", "{:.0f} ms"),
    Row("concurrent_slow_timeouts", "… drawings unanswered within {concurrent_timeout_s:.0f} s", "{:d}", "0",
        lambda v: v == 0),
    Row("peer_p95_ms", "Tutorial app (`benchmarks/peer_app.py`), {peer_sessions} sessions, same clients and core, "
        "p95", "{:.0f} ms"),
    Row("peer_server_cpu_s_per_drawing", "… its server CPU per drawing", "{:.4f} s"),
    Row("peer_server_cpu_bare_ratio", "… as a multiple of our bare work", "{:.1f}×"),
    Row("peer_timeouts", "… its drawings unanswered within {concurrent_timeout_s:.0f} s", "{:d}"),
    Row("server_rss_mb_after", "Server memory after every round (RSS)", "{:.0f} MB", "< 1.5 GB",
        lambda v: v < 1536),
    Row("balancer_one_p95_ms", "{balancer_sessions} sessions through haproxy (deploy/run-local.sh), 1 app server, p95",
        "{:.0f} ms", "< 1 s", lambda v: v < 1000),
    Row("balancer_two_p95_ms", "… 2 app servers, p95", "{:.0f} ms", "< 1 s", lambda v: v < 1000),
    Row("balancer_two_double_p50_ms", "{balancer_double_sessions} sessions through haproxy, 2 app servers, p50",
        "{:.0f} ms"),
    Row("balancer_two_double_p95_ms", "… p95", "{:.0f} ms"),
    Row("balancer_unanswered", "… drawings unanswered within 20 s, all three runs", "{:d}", "0", lambda v: v == 0),
    Row("hostile_calm_p95_ms", "{hostile_sessions_drawing} sessions drawing, no attack, p95", "{:.0f} ms"),
    Row("hostile_attack_p95_ms", "… while a 30th uploads hostile models and forges canvas messages, p95",
        "{:.0f} ms", "< 2 s", lambda v: v < 2000),
    Row("hostile_attack_max_ms", "… slowest answer during the attack", "{:.0f} ms"),
    Row("hostile_not_refused", "Attacks not refused with a sentence (of {hostile_attacks})", "{:d}", "0",
        lambda v: v == 0),
    Row("hostile_refusal_max_s", "… slowest refusal", "{:.1f} s", "< 60 s", lambda v: v < 60),
    Row("hostile_tracebacks", "… tracebacks shown", "{:d}", "0", lambda v: v == 0),
    Row("hostile_server_peak_mb", "Server memory peak during the attack (RSS)", "{:.0f} MB", "< 1.5 GB",
        lambda v: v < 1536),
    Row("hostile_worker_peak_mb", "Model-checking worker's memory peak", "{:.0f} MB", "< 1.5 GB",
        lambda v: v < 1536),
    Row("drawn_accuracy", "Pen-drawn digits (UNIPEN) replayed in the browser", "{:.1%}", "≥ 97%",
        lambda v: v >= 0.97),
    Row("drawn_accuracy_offline", "Same digits rendered offline", "{:.1%}", "≥ 97%", lambda v: v >= 0.97),
    Row("test_accuracy", "MNIST test accuracy, bundled model", "{:.2%}"),
    Row("seed_recipe_test_accuracy", "MNIST test accuracy, seed recipe (listing 5.1)", "{:.2%}"),
)


def markdown(results: dict) -> str:
    """The table for the README, with the run's date, machine and command above it."""
    machine = results.get("machine", {})
    lines = [f"Measured {results.get('date', '?')} on {machine.get('cpu', '?')} ({machine.get('cores', '?')} cores), "
             f"TensorFlow {machine.get('tensorflow', '?')}, with `{results.get('command', 'python -m benchmarks')}`"
             + (" (quick smoke run: small samples)" if results.get("quick") else "") + ".", "",
             "| Measure | Figure | Goal | |", "| --- | ---: | --- | --- |"]
    lines += [_line(row, results) for row in ROWS if results.get(row.key) is not None]
    return "\n".join(lines + _notes(results)) + "\n"


def _notes(results: dict) -> list[str]:
    """Where a figure comes from, when the table alone would not say."""
    notes = []
    if "drawn_disagreements" in results:
        among = (f" of {results['drawn_digits']} digits from {results.get('drawn_writers', '?')} writers"
                 if "drawn_digits" in results else " digits")  # the accuracy group counts them
        notes.append(f"Browser and offline rendering disagree on {len(results['drawn_disagreements'])}{among} "
                     f"(listed in the JSON).")
    if "concurrent_client" in results:
        notes.append(f"Concurrent sessions: {results['concurrent_client']}.")
    if "seed_recipe_source" in results:
        notes.append(f"Seed recipe accuracy: {results['seed_recipe_source']}.")
    return ["", *(f"- {note}" for note in notes)] if notes else []


def derive(results: dict) -> dict:
    """Figures made of two groups' figures: the server's CPU per drawing over the bare work it must do.

    The bare work is the first row, ``inference_ms_p50``: a drawing preprocessed and run forward with
    every activation. Its preprocessing is inside it already, so ``preprocess_ms_p50`` is not added
    (earlier runs added it, counting the preprocessing twice: their ratios read about a third lower).
    """
    bare_ms = results.get("inference_ms_p50") or 0
    derived = {}
    for key, name in (("server_cpu_s_per_drawing", "server_cpu_bare_ratio"),
                      ("peer_server_cpu_s_per_drawing", "peer_server_cpu_bare_ratio")):
        if bare_ms and results.get(key) is not None:
            derived[name] = results[key] * 1000 / bare_ms
    return derived


def verdicts(results: dict) -> dict[str, bool]:
    """Each goal's key and whether this run met it."""
    return {row.key: bool(row.met(results[row.key])) for row in ROWS
            if row.met is not None and results.get(row.key) is not None}


def _line(row: Row, results: dict) -> str:
    value = results[row.key]
    verdict = "" if row.met is None else ("pass" if row.met(value) else "**miss**")
    return f"| {row.label.format_map(results)} | {row.fmt.format(value)} | {row.goal} | {verdict} |"
