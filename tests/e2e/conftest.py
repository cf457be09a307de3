"""Browser fixtures: a real `streamlit run app.py` on 127.0.0.1 and headless Chromium.

Debian's /usr/bin/chromium drives the tests (a Playwright browser download does not work
offline). Without Chromium the tests skip, unless CI is set, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("DCGAN_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "test-output" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chromium():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI: {CHROMIUM} not found")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"])
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
    port = _free_port()
    env = {**os.environ, "DCGAN_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2", **app_env}
    env.pop("DCGAN_ALLOWED_ROOTS", None)
    log = open(tmp_path / "streamlit.log", "w")  # noqa: SIM115 - closed at teardown
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError((tmp_path / "streamlit.log").read_text()[-3000:])
        time.sleep(0.3)
    yield base, home
    _stop_jobs(home)
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)
    log.close()


def _stop_jobs(home: Path) -> None:
    import json

    for status in (home / "GAN_MODEL").glob("*/status.json"):
        pid = json.loads(status.read_text()).get("pid")
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def settle(page, timeout: float = 60_000) -> None:
    """Wait until the app is connected and its script has finished running."""
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
