"""The app in a real browser: `streamlit run app.py` on a free port, and headless Chromium.

The browser tests (`tests/e2e`) and the benchmarks that time pages (`bench/explore_bench`,
`bench/dashboard_bench`) start both the same way, from here. Debian's `/usr/bin/chromium` is
the browser (a Playwright browser download does not work offline); `DCGAN_CHROMIUM` names
another.
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DCGAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1400, "height": 1000}


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


def launch_chromium(playwright):
    """Headless Chromium from a started `sync_playwright()`."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)


def settle(page, timeout: float = 60_000) -> None:
    """Wait until the app is connected and its script has finished running."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                           timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class RunningApp:
    process: subprocess.Popen
    url: str  # http://127.0.0.1:PORT


@contextlib.contextmanager
def running_app(home: Path, log: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 120, port: int | None = None,
                args: Sequence[str] = ()) -> Iterator[RunningApp]:
    """The app serving workspace `home` on 127.0.0.1 until the block ends (then SIGTERM to
    its process group), with `env` added to this process's environment (less any
    DCGAN_ALLOWED_ROOTS of ours) and `args` to streamlit's (e.g. --secrets.files). Its output
    goes to `log` (else nowhere); RuntimeError with the log's end if it exits or is not
    healthy within `timeout` seconds."""
    port = port or free_port()
    inherited = {k: v for k, v in os.environ.items() if k != "DCGAN_ALLOWED_ROOTS"}
    env = {**inherited, "DCGAN_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    with open(log or os.devnull, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
             *args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            app = RunningApp(process, f"http://127.0.0.1:{port}")
            _wait_healthy(app, time.monotonic() + timeout, log)
            yield app
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def _wait_healthy(app: RunningApp, deadline: float, log: Path | None) -> None:
    while True:
        try:
            with urllib.request.urlopen(f"{app.url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline or app.process.poll() is not None:
            said = log.read_text()[-3000:] if log else "(no log kept)"
            raise RuntimeError(f"the app did not start at {app.url}:\n{said}")
        time.sleep(0.2)


def file_input(page, label: str):
    """The file input of the Streamlit uploader whose label contains `label`: a page can
    hold several (Explore's generator, latent and photo uploaders), and while a rerun is on
    its way the first on the page may not be the one meant."""
    return page.get_by_test_id("stFileUploader").filter(has_text=label) \
        .locator("input[type=file]")


def write_class_secrets(path: Path, app_port: int, provider_port: int,
                        teachers: Sequence[str] = (), **limits: int) -> Path:
    """A secrets.toml that serves the app on 127.0.0.1:`app_port` to a class signing in at
    the OpenID Connect provider on localhost:`provider_port` (oidc-provider-mock in the
    tests and the class benchmark), with `teachers` and the `[class]` limits given."""
    lines = [
        "[auth]",
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"',
        'cookie_secret = "a-test-cookie-secret-of-more-than-32-characters"',
        'client_id = "dcgan-studio"',
        'client_secret = "class-secret"',
        f'server_metadata_url = "http://localhost:{provider_port}'
        '/.well-known/openid-configuration"',
        "",
        "[class]",
        "teachers = [" + ", ".join(f'"{t}"' for t in teachers) + "]",
        *(f"{name} = {value}" for name, value in limits.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def sign_in(browser, base: str, who: str, timeout: float = 60_000):
    """A page in a new browser context, signed in as subject `who` at oidc-provider-mock's
    authorisation form (it signs in whoever is typed there)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(timeout)
    page.goto(base)
    settle(page, timeout)
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name=sub]").fill(who)
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text(f"Signed in as {who}").first.wait_for(timeout=timeout)
    settle(page, timeout)
    return page
