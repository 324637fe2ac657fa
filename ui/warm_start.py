"""Warm the server as it starts, so the first student's first page is as quick as the tenth's.

Streamlit runs ``app.py`` only when a browser connects: on a fresh server the first student
would wait for TensorFlow to import, the model to load and its first forward pass to trace
(47 s once on a busy machine) while the teacher wonders what is wrong. ``app.py`` hands
``streamlit run`` an ``st.App`` whose lifespan calls ``lifespan`` below at server start; it
warms, in a background thread, the very caches the pages use (``server.resources``), so nothing
is done twice and a student who arrives during the warm-up simply waits for it to finish.

``/ready`` says whether that warm-up is over: a balancer's health check asks it, so students
go to a server that can answer them now (``/_stcore/health`` says ok as soon as the process
listens, seconds before). When the server stops, it gives back the class store's job lease
it holds, so the next training on any server need not wait for the lease to lapse.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from streamlit.logger import get_logger

_LOGGER = get_logger(__name__)
WARM_MESSAGE = "Convnet Lab is warm"  # benchmarks/warm_start.py waits for this line
THREAD = "warm-start"
READY_PATH = "/ready"  # deploy/haproxy.cfg's health check
WARM = threading.Event()  # set once the warm-up is over (or failed: the pages then load what they need)


def warm() -> float:
    """Import what the pages import and run the first drawing's path once; returns the seconds it took."""
    started = time.monotonic()
    import numpy as np

    import ui.classroom  # noqa: F401  (the shared sidebar and the class store's code)
    import ui.sidebar  # noqa: F401
    from mnist_model.engine.preprocess import canvas_to_mnist
    from mnist_model.figures.common import pixels, probability_bars
    from server import resources

    predictor = resources.get_predictor()  # TensorFlow, the bundled model, its traced forward pass
    familiar = resources.familiarity_check()
    resources.test_images()
    stroke = np.zeros((320, 320, 4), np.uint8)
    stroke[..., 3] = 255
    stroke[60:260, 150:170, :3] = 255  # a "1", drawn as the canvas sends it
    image = canvas_to_mnist(stroke, light_ink=True).image
    probability_bars(predictor.probabilities(image)).to_json()
    familiar.unfamiliar(image)
    pixels(predictor.saliency(image), scale=1, colormap="hot")  # "Show the ink behind the answer"
    return time.monotonic() - started


def _warm_in_background() -> None:
    try:
        seconds = warm()
    except Exception:  # a page will meet the same failure and say what it is; the server must still start
        _LOGGER.exception("Warming the server failed; the first page will load the model instead")
        return
    finally:
        WARM.set()
    _LOGGER.info("%s: TensorFlow, the bundled model and the first drawing's path ready in %.1f s",
                 WARM_MESSAGE, seconds)


async def ready(request: Request) -> PlainTextResponse:
    """200 once the server can answer a student at once, 503 while it warms up."""
    if WARM.is_set():
        return PlainTextResponse("ready\n")
    return PlainTextResponse("warming up\n", status_code=503, headers={"Retry-After": "2"})


ROUTES = [Route(READY_PATH, ready, methods=["GET", "HEAD"])]


def _not_from_warm_start(record: logging.LogRecord) -> bool:
    """The caches' spinners ask for a page to show on; the warm-up has none, and that is expected."""
    return record.threadName != THREAD


@contextlib.asynccontextmanager
async def lifespan(app):
    """``st.App``'s lifespan: start warming and let the server answer at once; give leases back at the end."""
    get_logger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_not_from_warm_start)
    threading.Thread(target=_warm_in_background, name=THREAD, daemon=True).start()
    try:
        yield
    finally:
        import classroom

        if classroom.release_all():
            _LOGGER.info("Gave the class store's job lease back: this server is stopping")
