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
    import pandas  # noqa: F401  (Streamlit's component code asks for both as the canvas is first drawn)
    import pyarrow  # noqa: F401  (first, so the first page need not wait for them behind TensorFlow)

    import ui.classroom  # noqa: F401  (the shared sidebar and the class store's code)
    import ui.sidebar  # noqa: F401
    from mnist_model.engine.preprocess import canvas_to_mnist
    from mnist_model.figures.common import pixels, probability_bars
    from server import resources

    _wait_for_first_page(started)
    predictor = resources.warm_predictor()  # TensorFlow, the bundled model, its traced forward pass
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


FIRST_PAGE_GRACE_S = 2.5  # a browser opened with the server (``streamlit run`` opens one) connects within this
FIRST_PAGE_WAIT_S = 5.0  # TensorFlow waits for the first page at most this long after the warm-up starts
FIRST_PAGE_FETCH_S = 1.0  # after the first page's run, for its browser to fetch the components' code
PAGE_STARTED = threading.Event()  # a page began to run in this process
PAGE_DRAWN = threading.Event()  # a page finished its run


def _wait_for_first_page(started: float) -> None:
    """Let the first page be drawn before TensorFlow is imported.

    Importing it holds the interpreter for 4 to 5 s, and a page drawn meanwhile runs at half speed:
    the first page of a browser opened with the server took 1.2 s longer. That page reads
    drawings without TensorFlow (``resources.get_predictor``), so it need not wait for it.
    """
    while time.monotonic() - started < FIRST_PAGE_WAIT_S and not PAGE_DRAWN.is_set():
        if not PAGE_STARTED.is_set() and time.monotonic() - started > FIRST_PAGE_GRACE_S:
            return  # nobody came: a balancer's health check waits for /ready
        time.sleep(0.05)
    if PAGE_DRAWN.is_set():  # the browser still fetches the canvas's code from this server
        time.sleep(max(0.0, min(FIRST_PAGE_FETCH_S, started + FIRST_PAGE_WAIT_S - time.monotonic())))


def _warm_in_background() -> None:
    from server import resources

    try:
        seconds = warm()
    except Exception:  # a page will meet the same failure and say what it is; the server must still start
        _LOGGER.exception("Warming the server failed; the first page will load the model instead")
        return
    finally:
        resources.stop_warming()  # also when the warm-up failed: pages then load the model themselves
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
    from server import resources

    get_logger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_not_from_warm_start)
    resources.start_warming()  # until TensorFlow is in, the first drawings are read in numpy
    threading.Thread(target=_warm_in_background, name=THREAD, daemon=True).start()
    try:
        yield
    finally:
        import classroom

        if classroom.release_all():
            _LOGGER.info("Gave the class store's job lease back: this server is stopping")
