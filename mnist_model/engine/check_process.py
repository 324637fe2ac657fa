"""``check_archive`` in a process of its own, for a server that must not parse untrusted bytes itself.

Reading a hostile file's zip, JSON and HDF5 metadata is quick, but it is Python work on bytes a
stranger chose: a weights file of 12,000 empty groups keeps an interpreter busy for seconds, and in
the app's server that interpreter is every student's. ``check_isolated`` runs the same checks in a
short-lived child at low priority, with a time limit; the server only waits for its one-line answer.

``python -m mnist_model.engine.check_process FILE LABEL`` prints ``{"cost": {...}}`` or ``{"error": "..."}``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from .errors import ModelFileError
from .layer_sizes import ModelCost

PRIORITY = 10  # below the server (0), above training and preparation (19): the uploader is waiting
TIME_LIMIT_S = 30.0  # the bundled model's check takes about 0.3 s, most of it starting Python


def check_isolated(path: str | Path, label: str, timeout_s: float = TIME_LIMIT_S) -> ModelCost:
    """``model_files.check_archive(path, label)``, run in a child process.

    Raises:
        ModelFileError: the file fails a check, or checking it took longer than ``timeout_s``
            or crashed (the message says so).
    """
    command = [sys.executable, "-m", __name__, str(path), label]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ModelFileError(f"{label} is refused: checking it took longer than {timeout_s:.0f} s.") from None
    try:
        answer = json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise ModelFileError(f"{label} could not be checked (the check ended with exit code {run.returncode})."
                             ) from None
    if "error" in answer:
        raise ModelFileError(answer["error"])
    return ModelCost(**answer["cost"])


def main(argv: list[str]) -> int:
    from .model_files import check_archive

    if hasattr(os, "nice"):
        os.nice(PRIORITY)
    path, label = Path(argv[0]), argv[1]
    try:
        cost = check_archive(path, label)
    except ModelFileError as err:
        print(json.dumps({"error": str(err)}))
        return 0
    print(json.dumps({"cost": dataclasses.asdict(cost)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
