"""`streamlit run app.py` warms TensorFlow and the model as the server starts, before anyone connects."""

import os
import subprocess
import sys
import threading
import urllib.request

from browser_support import ROOT, free_port, wait_healthy
from streamlit.testing.v1 import AppTest

from ui import warm_start


def test_the_server_warms_before_any_browser_connects():
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
           "--server.fileWatcherType", "none", "--server.port", str(port), "--server.address", "127.0.0.1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines, warm = [], threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if warm_start.WARM_MESSAGE in line:
                warm.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, 120)  # the server answers while it warms
        assert warm.wait(180), "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{warm_start.READY_PATH}", timeout=10) as ready:
            assert ready.status == 200  # what the balancer asks before it sends students here
    finally:
        proc.terminate()
        proc.wait(10)
    said = "".join(lines)
    assert "bundled model" in said and "Traceback" not in said and "missing ScriptRunContext" not in said


def test_warming_fills_the_caches_the_pages_use():
    from server import resources

    assert warm_start.warm() > 0
    assert resources.get_predictor() is resources.get_predictor()  # cached, not loaded again
    at = AppTest.from_file("../app.py", default_timeout=120).run()  # the page runs as __main__, not as the server
    assert not at.exception and at.title[0].value == "Draw a digit"


def test_streamlit_run_finds_the_app_that_warms():
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(ROOT / "app.py")
    assert found.is_asgi_app and found.import_string == "app:app"


def test_ready_answers_503_until_the_server_is_warm():
    import asyncio

    was_warm = warm_start.WARM.is_set()
    try:
        warm_start.WARM.clear()
        waiting = asyncio.run(warm_start.ready(None))
        assert waiting.status_code == 503 and waiting.headers["Retry-After"] == "2"
        warm_start.WARM.set()
        assert asyncio.run(warm_start.ready(None)).status_code == 200
    finally:
        if not was_warm:
            warm_start.WARM.clear()
