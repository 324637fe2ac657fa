"""``python -m benchmarks [--quick] [--only a,b | --skip a,b] [--json results.json]``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GROUPS = ("accuracy", "inference", "flops", "memory", "train", "browser", "concurrent", "hostile", "balancer")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small samples: a smoke run of every path")
    parser.add_argument("--only", type=_groups, help=f"comma-separated groups to run, from {','.join(GROUPS)}")
    parser.add_argument("--skip", type=_groups, default=(), help="comma-separated groups to leave out")
    parser.add_argument("--json", type=Path, help="write the results here (and the table beside it as .md)")
    parser.add_argument("--md", type=Path, help="write the markdown table here instead")
    return parser.parse_args(argv)


def _groups(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in GROUPS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown group(s) {unknown}; choose from {', '.join(GROUPS)}")
    return names


def runners() -> dict:
    """Each group's function, imported late so ``--help`` stays fast."""
    from . import accuracy, balancer, hostile, inference, sessions, training

    return {"accuracy": accuracy.run, "inference": inference.run_latency, "flops": inference.run_flops,
            "memory": inference.run_memory, "train": training.run, "browser": sessions.run_single,
            "concurrent": sessions.run_concurrent, "hostile": hostile.run, "balancer": balancer.run_balancer}


def run(selected: tuple[str, ...], quick: bool) -> dict:
    import tempfile

    import tensorflow as tf

    from .common import FULL, QUICK, machine, today

    tf.get_logger().setLevel("ERROR")
    # every server the benchmarks start uses a class store of their own, never the project's classroom.db
    store = tempfile.TemporaryDirectory(prefix="benchmark-store-")
    os.environ.setdefault("CONVNET_LAB_DB", f"sqlite:///{store.name}/classroom.db")
    results = {"date": today(), "machine": machine(), "quick": quick, "groups": list(selected),
               "load_average_at_start": os.getloadavg()[0], "group_seconds": {}}
    for name, measure in runners().items():
        if name in selected:
            print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            results.update(measure(QUICK if quick else FULL))
            results["group_seconds"][name] = round(time.perf_counter() - start, 1)
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    selected = tuple(g for g in (args.only or GROUPS) if g not in args.skip)
    if os.getloadavg()[0] > 1.0:
        print(f"[benchmarks] warning: load average {os.getloadavg()[0]:.1f} before starting; other work "
              f"on these cores will skew the figures", file=sys.stderr)
    results = run(selected, args.quick)
    results["command"] = shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)])
    from .report import derive, markdown, verdicts

    results.update(derive(results))
    results["goals_met"] = verdicts(results)
    table = markdown(results)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    md_path = args.md or (args.json.with_suffix(".md") if args.json else None)
    if md_path:
        md_path.write_text(table)


main()
