"""A live data-efficiency run in its own process, for the app: ``python -m mnist_model.lab.data_efficiency_worker``.

Both networks trained on a few hundred fresh random images take the cores for most of a
minute; in a process of its own at the lowest priority, that minute does not slow the
server's answers to the students drawing meanwhile.

It speaks the protocol of ``mnist_model.engine.worker``: the request is ``{"plan": EfficiencyPlan
as a dict, "size": images, "seed": seed, "relative_cost": optional, seconds per step of each
network elsewhere}`` (MNIST from ``$MNIST_NPZ`` or ``data/``); a ``stop`` line, or stdin closing,
cancels; progress comes back as ``{"event": "progress", "done": steps, "total": steps, "label":
what trains, "seconds_left": measured estimate or None}``, and the outcome ``done`` carries
``runs``, the two runs as dicts.
"""

from __future__ import annotations

import dataclasses
import threading

from ..engine.worker import Emit, failure, serve, warm_tensorflow


def run_job(request: dict, emit: Emit, cancel: threading.Event) -> dict:
    """Train both networks as ``request`` says; returns the outcome event (never raises).

    Args:
        request: ``{"plan": EfficiencyPlan as a dict, "size": images, "seed": seed}``: one run of
            each network on ``size`` class-balanced images picked with ``seed``, with the plan's recipe;
            ``"relative_cost"`` (optional) guesses each network's speed until it is measured.
        emit: receives each progress event.
        cancel: when set, training stops after the current batch and no runs come back.
    """
    from ..engine.data import load_mnist
    from ..engine.training import TrainingCancelled
    from .data_efficiency import EfficiencyPlan, run_experiment

    def progress(done: int, total: int, label: str, seconds_left: float | None) -> None:
        emit({"event": "progress", "done": done, "total": total, "label": label,
              "seconds_left": None if seconds_left is None else round(seconds_left, 1)})

    try:
        plan = EfficiencyPlan(**request["plan"])
        live = dataclasses.replace(plan, sizes=(int(request["size"]),), seeds=1, first_seed=int(request["seed"]))
        results = run_experiment(load_mnist(), live, on_progress=progress, cancel=cancel,
                                 relative_cost=request.get("relative_cost"))
    except TrainingCancelled:
        return {"event": "cancelled", "message": "The run was stopped; nothing was added to the plot."}
    except ValueError as err:  # bad sizes or plan, or MNIST missing or unreadable (DataError)
        return {"event": "failed", "message": str(err)}
    except Exception as err:  # the outcome must always reach the server as a sentence
        return failure(err, "The run")
    return {"event": "done", "runs": [dataclasses.asdict(run) for run in results.runs],
            "message": f"Both networks trained on {live.sizes[0]:,} images in {results.seconds:.0f} s."}


def main() -> None:
    serve(run_job, warm_up=warm_tensorflow)


if __name__ == "__main__":
    main()
