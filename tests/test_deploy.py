"""The school topology as shipped: deploy/run-local.sh starts PostgreSQL, two app servers and haproxy
with deploy/haproxy.cfg; a lesson runs through the balancer while one server is killed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_support import CHROMIUM, clear_canvas, draw, launch_browser, wait_for_prediction
from test_classroom_browser import ONE, PASSWORD, dashboard_count, teacher_creates_class, wait_until_idle

import classroom

ROOT = Path(__file__).resolve().parent.parent
RUN_LOCAL = ROOT / "deploy" / "run-local.sh"
SEVEN = [[(90, 60), (230, 60), (130, 270)]]  # a second drawing, unlike the first
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"Chromium not found at {CHROMIUM}"),
]
playwright_api = pytest.importorskip("playwright.sync_api")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_ports() -> int:
    """A port P with P .. P+2 and P+50 free: haproxy, two app servers, PostgreSQL."""
    for base in range(21_000, 40_000, 97):
        if not any(listening(port) for port in (base, base + 1, base + 2, base + 50)):
            return base
    raise RuntimeError("no free ports for the topology")


@dataclass
class Topology:
    url: str  # the balancer
    port: int
    folder: Path
    env: dict

    @property
    def db(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port + 50}/lab"

    def run(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(RUN_LOCAL), command], env=self.env, capture_output=True, text=True, timeout=300)

    def server_pid(self, name: str) -> int:
        """The process of app server ``app1`` or ``app2`` (haproxy's cookie value)."""
        return int((self.folder / "run" / f"app-{name.removeprefix('app')}.pid").read_text())


@pytest.fixture(scope="module")
def topology():
    if not shutil.which("haproxy") or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.fail("haproxy and PostgreSQL must be installed (Debian: apt-get install haproxy postgresql; "
                    ".ci/run does)", pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix="lab-deploy-"))  # under /tmp: PostgreSQL runs as postgres under root
    folder.chmod(0o755)
    port = free_ports()
    env = {**os.environ, "LAB_DIR": str(folder), "LAB_SERVERS": "2", "LAB_PORT": str(port),
           "CONVNET_LAB_TEACHER_PASSWORD": PASSWORD}
    found = Topology(f"http://127.0.0.1:{port}", port, folder, env)
    started = found.run("start")
    try:
        assert started.returncode == 0, started.stderr + "".join(
            p.read_text()[-2000:] for p in (folder / "logs").glob("*.log"))
        yield found
    finally:
        found.run("stop")
        shutil.rmtree(folder, ignore_errors=True)


def get(url: str, cookie: str = "") -> tuple[int, str]:
    """The status of a GET, and the cookie it sets ("" for none)."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers.get("Set-Cookie", "")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Set-Cookie", "")


def test_the_balancer_sends_browsers_to_warm_servers_and_keeps_each_on_one(topology):
    for server in (1, 2):  # start returned once every server said it is warm
        assert get(f"http://127.0.0.1:{topology.port + server}/ready")[0] == 200
    status, set_cookie = get(f"{topology.url}/ready")
    assert status == 200
    cookie = set_cookie.split(";")[0]
    assert cookie in ("convnet_lab_server=app1", "convnet_lab_server=app2")
    assert [get(f"{topology.url}/ready", cookie) for _ in range(4)] == [(200, "")] * 4  # pinned: nothing to reset


def browser_server(context) -> str:
    """The app server haproxy pinned this browser to: ``app1`` or ``app2``."""
    return next(c["value"] for c in context.cookies() if c["name"] == "convnet_lab_server")


def choose_and_send(page, digit: int, taps: int = 1) -> None:
    page.locator(".st-key-intended_digit button", has_text=str(digit)).first.click()
    send = page.locator(".st-key-send_to_class button")
    page.wait_for_function("b => !b.disabled", arg=send.element_handle(), timeout=15_000)
    if taps == 2:
        send.dblclick()  # two taps in quick succession
    else:
        send.click()


def test_a_lesson_goes_on_through_the_other_server_when_one_dies_mid_send(topology):
    with playwright_api.sync_playwright() as p:
        browser = launch_browser(p)
        teacher, link = teacher_creates_class(browser, topology.url)
        student = browser.new_context(viewport={"width": 1280, "height": 900})
        page = student.new_page()
        page.goto(link)
        page.locator(".st-key-class_nickname input").fill("Ada")
        page.get_by_role("button", name="Join").click()
        page.locator(".st-key-class_badge").wait_for(timeout=30_000)
        page.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
        draw(page, ONE)
        wait_for_prediction(page, timeout=30)
        choose_and_send(page, 1, taps=2)
        page.get_by_text("What you sent (1)").wait_for(timeout=15_000)
        wait_until_idle(page)

        clear_canvas(page)
        draw(page, SEVEN)
        wait_for_prediction(page, timeout=30)
        doomed = browser_server(student)
        choose_and_send(page, 7)
        os.kill(topology.server_pid(doomed), signal.SIGKILL)  # the click is on its way, or just stored

        # the browser reconnects through haproxy to the other server, still in the class
        page.locator(".st-key-class_badge").wait_for(timeout=60_000)
        deadline = time.monotonic() + 60
        while browser_server(student) == doomed and time.monotonic() < deadline:
            time.sleep(0.5)
        assert browser_server(student) != doomed
        wait_until_idle(page, timeout=60)
        if not page.get_by_text("What you sent (2)").count():  # it never arrived: the student is told, and
            page.get_by_text("never reached your class").wait_for(timeout=30_000)  # it is back, its 7 chosen
            send = page.locator(".st-key-send_to_class button")
            page.wait_for_function("b => !b.disabled", arg=send.element_handle(), timeout=15_000)
            send.dblclick()
        page.get_by_text("What you sent (2)").wait_for(timeout=30_000)

        store = classroom.connect(topology.db)
        try:
            code = link.split("class=", 1)[1].split("&", 1)[0]
            sent = [(d.intended, d.student) for d in classroom.class_drawings(store, code)]
        finally:
            store.close()
        assert sorted(digit for digit, _ in sent) == [1, 7]  # every drawing once: not lost, not twice

        teacher.reload()  # the teacher too lands on the living server, still logged in
        teacher.get_by_role("button", name="Log out").wait_for(timeout=60_000)
        assert dashboard_count(teacher, wanted="2", timeout=60) == "2"
        browser.close()


def test_stop_leaves_nothing_listening_and_twice_is_harmless(topology):
    ports = [topology.port, topology.port + 1, topology.port + 2, topology.port + 50]
    assert topology.run("stop").returncode == 0
    assert [port for port in ports if listening(port)] == []
    again = topology.run("stop")
    assert again.returncode == 0 and "stopped" in again.stdout
