"""A model's checks and per-model results in their own process: ``python -m mnist_model.lab.prepare_worker``.

It speaks the protocol of ``mnist_model.engine.worker``. The request is either
``{"path": model}`` (a model already in a folder: a training's, a fine-tune's, one copied in
by hand) or ``{"upload": hidden temp file, "name": the name it was uploaded under,
"folder": model folder, "uploaded_by": who}`` (an upload the server has only checked from its
bytes): the upload is loaded, checked and published under a free name first. Progress events
are ``{"event": "progress", "done": fraction, "what": words}``; the outcome is ``done`` with
``path``, or ``failed`` with a ``message`` naming the file (an upload that fails is removed).

The server runs at most one at a time and kills it if it outlives its time or memory.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..engine.errors import ModelFileError
from ..engine.worker import Emit, failure, serve, warm_tensorflow


def run_job(request: dict, emit: Emit, cancel: threading.Event) -> dict:
    """Check, publish (uploads) and prepare a model; returns the outcome event (never raises)."""
    from ..engine.data import DataError
    from ..engine.storage import delete_model, import_model
    from .prepare import prepare_model

    def progress(done: float, what: str) -> None:
        emit({"event": "progress", "done": round(done, 3), "what": what})

    path = None
    try:
        if "upload" in request:
            progress(0.0, "loading and checking the model")
            upload = Path(request["upload"])
            path = import_model(upload.read_bytes(), request["name"], request["folder"],
                                uploaded_by=request.get("uploaded_by"))
            upload.unlink(missing_ok=True)
            emit({"event": "progress", "done": 0.0, "what": "published, not yet offered", "path": str(path)})
        else:
            path = Path(request["path"])
        mark = prepare_model(path, progress)
    except (ModelFileError, DataError, OSError) as err:
        if "upload" in request and path is not None:
            delete_model(path)  # refused after it was published: nobody saw it (it was never marked ready)
        return {"event": "failed", "message": str(err)}
    except Exception as err:  # the outcome must always reach the server as a sentence
        return failure(err, "Preparing the model")
    finally:
        if "upload" in request:
            Path(request["upload"]).unlink(missing_ok=True)
    return {"event": "done", "path": str(path), "seconds": mark.get("seconds", {})}


def main() -> None:
    serve(run_job, warm_up=warm_tensorflow)


if __name__ == "__main__":
    main()
