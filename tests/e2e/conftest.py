"""Browser fixtures: a real `streamlit run app.py` on 127.0.0.1 and headless Chromium.

Debian's /usr/bin/chromium drives the tests (a Playwright browser download does not work
offline). Without Chromium the tests skip, unless CI is set, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from dcgan.testing import ROOT, VIEWPORT, launch_chromium, running_app
from tests.conftest import require_chromium

SHOTS = ROOT / "test-output" / "screenshots"


@pytest.fixture(scope="module")
def chromium():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def app_env() -> dict[str, str]:
    """Extra environment of the app under test (a test overrides it by parametrizing)."""
    return {}


@pytest.fixture
def app_server(tmp_path, app_env):
    """(base URL, workspace root) of a fresh app; stops it and any job it started."""
    home = tmp_path / "home"
    with running_app(home, log=tmp_path / "streamlit.log", env=app_env, timeout=60) as app:
        yield app.url, home
        _stop_jobs(home)


def _stop_jobs(home: Path) -> None:
    import json

    for status in (home / "GAN_MODEL").glob("*/status.json"):
        pid = json.loads(status.read_text()).get("pid")
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
