"""What an open Train tab costs a training job: its images/s with 0, 1 and 2 tabs open.

A real `streamlit run app.py` server and a real job (started as the Train page starts one:
`dcgan.runs.jobs.start_job`), the case of the issue that found the cost: the `demo` preset at
batch 16 on 200 portraits with a checkpoint and a sample grid every epoch (about one epoch a
second, so the dashboard always has something new to show). Headless Chromium tabs sit on
/train. Phases of 0, 1 and 2 tabs alternate (two rounds) in one run, so the ratios compare
like with like on a shared machine. The CPU time of the server and of Chromium per minute
of each phase is read with psutil.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from bench.common import ROOT, Report
from dcgan.testing import (
    VIEWPORT,
    RunningApp,
    chromium_available,
    launch_chromium,
    running_app,
    settle,
)


def _last_step(run_dir: Path) -> tuple[int, float]:
    """(step, time) of the newest step record of metrics.jsonl."""
    with open(run_dir / "metrics.jsonl", "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
        lines = f.read().decode(errors="replace").splitlines()
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("kind") == "step":
            return record["step"], record["time"]
    raise RuntimeError("no step logged yet")


def _cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds (user + system) so far of each process still alive, by pid."""
    seconds = {}
    for p in processes:
        try:
            t = p.cpu_times()
            seconds[p.pid] = t.user + t.system
        except psutil.Error:
            pass
    return seconds


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two _cpu_seconds readings by the processes alive at the
    second: one that exited in between is left out (never counted negative), one that
    started counts from its start."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def _chromium_processes() -> list[psutil.Process]:
    """The Chromium processes this process started (not another program's, or another test's
    running beside it): those in the sessions of the Chromium processes below this one.
    Playwright starts the browser in a session of its own, and some of its helpers are
    re-parented away from it."""
    def chromium(p: psutil.Process) -> bool:
        with contextlib.suppress(psutil.Error):
            return "chrom" in p.name()
        return False

    sessions = set()
    for p in psutil.Process().children(recursive=True):
        if chromium(p):
            with contextlib.suppress(OSError):
                sessions.add(os.getsid(p.pid))
    found = []
    for p in psutil.process_iter():
        if chromium(p):
            with contextlib.suppress(OSError):
                if os.getsid(p.pid) in sessions:
                    found.append(p)
    return found


def _wait_for_step(run_dir: Path, step: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _last_step(run_dir)[0] >= step:
                return
        except (OSError, RuntimeError):
            pass
        time.sleep(1)


def _phases(browser, app: RunningApp, run_dir: Path, rounds: int, phase_s: float,
            batch: int) -> dict[int, list[dict]]:
    """Per number of open Train tabs (0, 1, 2): each round's job images/s and CPU seconds
    per minute of the job, the server and Chromium."""
    results: dict[int, list[dict]] = {0: [], 1: [], 2: []}
    job = psutil.Process(json.loads((run_dir / "status.json").read_text())["pid"])
    server = psutil.Process(app.process.pid)
    for _ in range(rounds):
        for tabs in (0, 1, 2):
            pages = []
            for _ in range(tabs):
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(f"{app.url}/train")
                page.get_by_text("Fixed noise, epoch").first.wait_for(timeout=120_000)
                pages.append(page)
            time.sleep(5)  # past the first full draw
            chrome = _chromium_processes()
            s0, t0 = _last_step(run_dir)
            cpu0 = (_cpu_seconds([job]), _cpu_seconds([server]), _cpu_seconds(chrome))
            time.sleep(phase_s)
            s1, t1 = _last_step(run_dir)
            cpu1 = (_cpu_seconds([job]), _cpu_seconds([server]), _cpu_seconds(chrome))
            minutes = (t1 - t0) / 60
            results[tabs].append({
                "img_s": (s1 - s0) * batch / (t1 - t0),
                **{k: _cpu_used(a, b) / minutes for k, a, b in
                   zip(("job", "server", "chromium"), cpu0, cpu1, strict=True)}})
            for page in pages:
                page.close()
    return results


def explore_first_portrait(browser, base: str, run_dir: Path) -> dict[str, float]:
    """Seconds, while the job trains: from opening Explore to the demo's live portrait drawn
    (a fresh server imports TensorFlow then), and from choosing "Training run" to its
    newest checkpoint's portrait drawn and to its PCA sliders. The page draws a portrait in
    the same task that sets `window.dcganLive` to it."""
    page = browser.new_page(viewport=VIEWPORT)
    start = time.perf_counter()
    page.goto(f"{base}/explore")
    page.wait_for_function("() => window.dcganLive?.digest", timeout=300_000)
    demo = time.perf_counter() - start
    settle(page, timeout=300_000)
    before = page.evaluate("() => window.dcganLive.digest")
    start = time.perf_counter()
    page.get_by_text("Training run", exact=True).click()
    page.get_by_text(f"{run_dir.name} @ ckpt-").first.wait_for(timeout=300_000)
    page.wait_for_function("d => window.dcganLive?.digest !== d", arg=before, timeout=300_000)
    portrait = time.perf_counter() - start
    page.locator(".live label").filter(has_text="PC1").first.wait_for(timeout=300_000)
    sliders = time.perf_counter() - start
    page.close()
    return {"demo": demo, "portrait": portrait, "sliders": sliders}


def run(quick: bool = False, out_dir: Path = ROOT) -> Report:
    from dcgan.config import preset
    from dcgan.data.prepare import prepare_dataset
    from dcgan.data.synthetic import generate_dataset
    from dcgan.runs.jobs import start_job, stop_job
    from dcgan.workspace import Workspace

    report = Report("dashboard", out_dir)
    if not chromium_available():
        report.lines.append("Not measured: no Chromium on this machine.")
        report.write()
        return report
    from playwright.sync_api import sync_playwright

    phase_s, rounds, batch = (6, 1, 8) if quick else (60, 2, 16)
    home = Path(tempfile.mkdtemp(prefix="dcgan-bench-dash-"))
    ws = Workspace(home).ensure()
    generate_dataset(ws.dataset_dir("faces"), 200, seed=0, size=64)
    prepare_dataset(ws, "faces")
    config = preset("demo").with_overrides(dataset="faces", batch_size=batch, epochs=100_000,
                                           checkpoint_every=1, eval_every=0)
    run_dir = None
    try:
        with running_app(home) as app:
            try:
                run_dir = start_job(ws, config, "bench")
                _wait_for_step(run_dir, 100)  # the job's first steps (tracing) are slower
                with sync_playwright() as p:
                    browser = launch_chromium(p)
                    results = _phases(browser, app, run_dir, rounds, phase_s, batch)
                    explore = explore_first_portrait(browser, app.url, run_dir)
                    browser.close()
            finally:
                if run_dir is not None:
                    stop_job(run_dir)
                    time.sleep(3)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    mean = {tabs: {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
            for tabs, rows in results.items()}
    base_rate = mean[0]["img_s"]
    rows = []
    for tabs in (0, 1, 2):
        m = mean[tabs]
        ratio = m["img_s"] / base_rate
        report.figure(f"img_per_s_{tabs}_tabs", m["img_s"], "img/s")
        report.figure(f"ratio_{tabs}_tabs", ratio, "ratio")
        report.figure(f"server_cpu_s_per_min_{tabs}_tabs", m["server"], "CPU s/min")
        report.figure(f"chromium_cpu_s_per_min_{tabs}_tabs", m["chromium"], "CPU s/min")
        goal = {0: "", 1: ">= 0.95", 2: ">= 0.90"}[tabs]
        rows.append(f"| {tabs} | {m['img_s']:.0f} | **{ratio:.2f}** | {goal} | "
                    f"{m['job']:.0f} | {m['server']:.1f} | {m['chromium']:.1f} |")
    report.lines += [
        f"A training job (`demo` preset, batch {batch}, 200 portraits, a checkpoint and a "
        f"sample grid every epoch) with 0, 1 and 2 Train tabs open in headless Chromium; "
        f"phases of {phase_s} s alternating 0/1/2 tabs, {rounds} round(s), means. CPU time in "
        "CPU-seconds per minute (2 cores = 120 at most).",
        "",
        "| tabs | job images/s | vs no tab | goal | job CPU | server CPU | Chromium CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]
    report.figure("explore_open_s", explore["demo"], "s")
    report.figure("explore_run_portrait_s", explore["portrait"], "s")
    report.figure("explore_run_sliders_s", explore["sliders"], "s")
    report.lines += [
        "",
        "Explore while the same job trains (one tab, the server fresh, after the phases "
        "above): opening the page to the demo's first portrait (TensorFlow imported then) "
        f"**{explore['demo']:.1f} s**; choosing \"Training run\" to its newest checkpoint's "
        f"first portrait **{explore['portrait']:.1f} s** (goal <= 5 s), to its PCA sliders "
        f"{explore['sliders']:.1f} s.",
    ]
    report.write()
    return report
