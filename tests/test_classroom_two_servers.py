"""Two app servers sharing one PostgreSQL class store, as behind a load balancer with sticky sessions."""

from __future__ import annotations

import shutil

import pytest
from browser_support import CHROMIUM, launch_browser, running_app
from test_classroom_browser import ONE, PASSWORD, dashboard_count, student_sends, teacher_creates_class

pytest_plugins = ["classroom_support"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"Chromium not found at {CHROMIUM}"),
]
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def shared_store(postgres_url) -> str:
    """A fresh PostgreSQL class store both servers point at (imported here: the plugin owns the module)."""
    from classroom_support import fresh_postgres_schema

    return fresh_postgres_schema(postgres_url)


def test_a_drawing_sent_through_one_server_shows_on_the_other(shared_store, tmp_path):
    env = {"CONVNET_LAB_DB": shared_store, "CONVNET_LAB_TEACHER_PASSWORD": PASSWORD,
           "CONVNET_LAB_MODELS": str(tmp_path / "models")}
    with running_app(env) as teacher_server, running_app(env) as student_server, \
            playwright_api.sync_playwright() as p:
        browser = launch_browser(p)
        teacher, link = teacher_creates_class(browser, teacher_server)
        student_sends(browser, link.replace(teacher_server, student_server), "Ada", ONE, 1)
        assert dashboard_count(teacher) == "1"
        browser.close()
