"""A class through the balancer: websocket sessions drawing at once against deploy/run-local.sh's topology.

``python -m benchmarks.balancer --url http://127.0.0.1:8690 --sessions 30 --drawings 3 --rounds 3`` drives a
running topology; ``run_balancer`` (``--only balancer`` in ``python -m benchmarks``) starts its own, with
1 and with 2 app servers side by side, and 60 sessions through 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
from pathlib import Path

from .common import Sizes, summary
from .drawing import render, replay_digits
from .sessions import POOL, SESSION_TIMEOUT_S, Drawing, _draw_at_once, offline_digits
from .streamlit_client import Session, data_url

ROOT = Path(__file__).resolve().parent.parent
PORT = 8790  # the benchmark's own topology: haproxy here, app servers above it, PostgreSQL at +50


def drawings(n: int) -> list[Drawing]:
    """``n`` pen-drawn digits as the canvas sends them, each with the bundled model's offline answer."""
    digits = replay_digits(POOL)
    digits = [digits[i % len(digits)] for i in range(n)]
    expected = offline_digits(digits)
    return [Drawing(data_url(render(d)), sum(map(len, d.strokes)) / 60, e) for d, e in zip(digits, expected)]


async def class_through(url: str, sessions: int, per_session: int, rounds: int, pool: list[Drawing]) -> dict:
    """``sessions`` clients open the draw page through ``url``, then draw ``per_session`` digits each, all at once,
    ``rounds`` times; latency of every answer, and how many got none within the timeout."""
    clients = await asyncio.gather(*(Session.open(url, 2 * SESSION_TIMEOUT_S) for _ in range(sessions)))
    answers = []
    try:
        for round_ in range(rounds):
            share = [pool[(round_ * sessions * per_session + i) % len(pool)] for i in range(sessions * per_session)]
            answers += await _draw_at_once(list(clients), share, per_session)
    finally:
        for client in clients:
            await client.close()
    times = summary([a.ms for a in answers])
    return {"sessions": sessions, "drawings": sessions * per_session * rounds, "answered": len(answers),
            "p50_ms": times["p50"], "p95_ms": times["p95"],
            "unanswered": sum(a.digit is None for a in answers) + sessions * per_session * rounds - len(answers),
            "wrong": sum(a.digit is not None and a.digit != a.expected for a in answers)}


def topology(servers: int, folder: str, port: int = PORT):
    """``deploy/run-local.sh``'s environment for ``servers`` app servers in ``folder``."""
    return {**os.environ, "LAB_DIR": folder, "LAB_SERVERS": str(servers), "LAB_PORT": str(port),
            "CONVNET_LAB_TEACHER_PASSWORD": "benchmark"}


def run_balancer(sizes: Sizes) -> dict:
    """``sizes.sessions`` sessions through haproxy with 1 and with 2 app servers, and twice as many through 2."""
    per, rounds = 3, 1 if sizes.sessions < 30 else 2
    pool = drawings(POOL)
    results = {"balancer_sessions": sizes.sessions, "balancer_double_sessions": 2 * sizes.sessions,
               "balancer_drawings_per_session": per * rounds, "balancer_unanswered": 0}
    for name, servers, sessions in (("one", 1, sizes.sessions), ("two", 2, sizes.sessions),
                                    ("two_double", 2, 2 * sizes.sessions)):
        with tempfile.TemporaryDirectory(prefix="lab-bench-") as folder:
            os.chmod(folder, 0o755)  # PostgreSQL runs as postgres under root
            env = topology(servers, folder)
            subprocess.run([ROOT / "deploy" / "run-local.sh", "start"], env=env, check=True, capture_output=True)
            try:
                found = asyncio.run(class_through(f"http://127.0.0.1:{PORT}", sessions, per, rounds, pool))
            finally:
                subprocess.run([ROOT / "deploy" / "run-local.sh", "stop"], env=env, capture_output=True)
        results |= {f"balancer_{name}_p50_ms": found["p50_ms"], f"balancer_{name}_p95_ms": found["p95_ms"]}
        results["balancer_unanswered"] += found["unanswered"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8690", help="the balancer (or one server)")
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--drawings", type=int, default=3, help="per session and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pool = drawings(POOL)
    for round_ in range(args.rounds):
        found = asyncio.run(class_through(args.url, args.sessions, args.drawings, 1, pool[round_ * 7:] + pool))
        print(json.dumps({"round": round_ + 1, **found}))


if __name__ == "__main__":
    main()
