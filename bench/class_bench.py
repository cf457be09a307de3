"""A class on one machine: 20 signed-in sessions open while one job trains.

A real `streamlit run app.py` serving a class (sign-in at oidc-provider-mock, started here;
one device slot), a real job of the default preset started through the device queue, and
20 students signed in in their own browser contexts, each with a run waiting in the queue
(so each Train page refreshes its status, as a waiting student's does). Measured:
- page loads while the job trains: the sessions in turn open Train, Dataset and Explore;
  seconds from navigation to the page's title drawn and its script finished (p50, p95,
  max; one warm-up load of each page first, reported apart);
- the job's images/s alone (before the sessions sign in and after they close) and with the
  20 sessions open and loading pages; the server's and Chromium's CPU in each phase.

In a class the browsers run on the students' machines, not on the server: here they share
its 2 cores, so Chromium (and this process, which times it) runs at the lowest priority
(nice 19, inherited by every renderer it starts) and its CPU is reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from bench.common import ROOT, Report
from bench.dashboard_bench import _chromium_processes, _cpu_seconds, _last_step, _wait_for_step
from dcgan.testing import (
    chromium_available,
    free_port,
    launch_chromium,
    running_app,
    settle,
    sign_in,
    write_class_secrets,
)

PAGES = (("train", "Train"), ("dataset", "Dataset"), ("explore", "Explore"))
FULL = {"sessions": 20, "phase_s": 60.0, "loads": 60, "images": 1000, "batch": 64}
QUICK = {"sessions": 2, "phase_s": 4.0, "loads": 3, "images": 64, "batch": 8}


def load_seconds(page, base: str, path: str, title: str, timeout: float = 120_000) -> float:
    """Seconds from navigating to base/path until the page's title is drawn and its script
    has finished."""
    start = time.perf_counter()
    page.goto(f"{base}/{path}")
    page.locator("h1", has_text=title).first.wait_for(timeout=timeout)
    settle(page, timeout)
    return time.perf_counter() - start


def _snapshot(run_dir: Path, watched: dict) -> dict:
    """The job's newest step and its time, and the CPU seconds so far of each of `watched`
    (name -> a function giving its processes)."""
    step, at = _last_step(run_dir)
    return {"step": step, "time": at, **{name: _cpu_seconds(find()) for name, find in
                                         watched.items()}}


def _between(a: dict, b: dict, batch: int) -> dict[str, float]:
    """The job's images/s between two snapshots, and CPU seconds per minute of each."""
    minutes = (b["time"] - a["time"]) / 60
    return {"img_s": (b["step"] - a["step"]) * batch / (b["time"] - a["time"]),
            **{k: (b[k] - a[k]) / minutes for k in a if k not in ("step", "time")}}


def _alone(run_dir: Path, watched: dict, batch: int, seconds: float) -> dict[str, float]:
    first = _snapshot(run_dir, watched)
    time.sleep(seconds)
    return _between(first, _snapshot(run_dir, watched), batch)


def run(quick: bool = False, out_dir: Path = ROOT) -> Report:
    from dcgan.config import DEFAULT_PRESET, preset
    from dcgan.data.builtin import BUILTIN_DATASET
    from dcgan.data.prepare import prepare_dataset
    from dcgan.data.synthetic import generate_dataset
    from dcgan.runs import classroom
    from dcgan.runs.classroom import ClassSettings, Person
    from dcgan.workspace import Workspace

    report = Report("class", out_dir)
    try:
        from oidc_provider_mock import run_server_in_thread
    except ImportError:
        run_server_in_thread = None
    if not chromium_available() or run_server_in_thread is None:
        report.lines.append("Not measured: no Chromium or no oidc-provider-mock "
                            "(requirements-dev.txt) on this machine.")
        report.write()
        return report
    from playwright.sync_api import sync_playwright

    s = QUICK if quick else FULL
    home = Path(tempfile.mkdtemp(prefix="dcgan-bench-class-"))
    shared = Workspace(home).ensure()
    generate_dataset(shared.dataset_dir(BUILTIN_DATASET), s["images"], seed=0, size=64)
    prepare_dataset(shared, BUILTIN_DATASET)
    limits = {"slots": 1, "max_queued": 3, "max_epochs": 100_000, "max_minutes": 0}
    settings = ClassSettings(**limits)
    config = preset(DEFAULT_PRESET).with_overrides(
        dataset=BUILTIN_DATASET, batch_size=s["batch"], epochs=100_000)
    students = [f"student{i:02d}@school.example" for i in range(1, s["sessions"] + 1)]
    runs: list[Path] = []
    loads: dict[str, list[float]] = {path: [] for path, _ in PAGES}
    try:
        with run_server_in_thread() as provider:
            port = free_port()
            discovery = f"http://localhost:{provider.server_port}/.well-known/openid-configuration"
            with urllib.request.urlopen(discovery, timeout=10) as answer:
                issuer = json.load(answer)["issuer"]

            def submit(who: str) -> Path:
                person = Person(issuer, who, who)
                ws = classroom.person_workspace(shared, person)
                return classroom.submit_job(shared, ws, person.id, config, settings)

            runs.append(submit("trainer@school.example"))  # the device is free: it trains
            runs += [submit(who) for who in students]  # these wait for their turn
            secrets = write_class_secrets(home / "secrets.toml", port, provider.server_port,
                                          **limits)
            with running_app(home, port=port, args=["--secrets.files", str(secrets)],
                             log=home / "streamlit.log") as app:
                _wait_for_step(runs[0], 5 if quick else 60)  # past tracing and warm-up
                job = psutil.Process(json.loads((runs[0] / "status.json").read_text())["pid"])
                server = psutil.Process(app.process.pid)
                watched = {"server": lambda: [server], "job": lambda: [job],
                           "chromium": _chromium_processes}
                before = _alone(runs[0], watched, s["batch"], s["phase_s"])
                # Chromium and every renderer it starts inherit this process's niceness (the
                # job and the server, started above, keep theirs): it gets what they leave
                os.nice(19)
                with sync_playwright() as p:
                    browser = launch_chromium(p)
                    sign_ins, pages = [], []
                    for who in students:
                        start = time.perf_counter()
                        pages.append(sign_in(browser, app.url, who, timeout=120_000))
                        sign_ins.append(time.perf_counter() - start)
                    cold = {path: load_seconds(pages[0], app.url, path, title)
                            for path, title in PAGES}
                    for page in pages:  # every student watches their waiting run
                        load_seconds(page, app.url, "train", "Train")
                    first = _snapshot(runs[0], watched)
                    started, i = time.monotonic(), 0
                    while i < s["loads"] or time.monotonic() - started < s["phase_s"]:
                        path, title = PAGES[i % len(PAGES)]
                        page = pages[i % len(pages)]
                        loads[path].append(load_seconds(page, app.url, path, title))
                        if path != "train":  # back to watching the run, not timed
                            page.goto(f"{app.url}/train")
                        i += 1
                    during = _between(first, _snapshot(runs[0], watched), s["batch"])
                    browser.close()
                time.sleep(5)
                after = _alone(runs[0], watched, s["batch"], s["phase_s"])
    finally:
        for run_dir in runs:
            with contextlib.suppress(Exception):
                classroom.stop_run(shared, settings, run_dir)
        time.sleep(3)
        for run_dir in runs:
            with contextlib.suppress(Exception):
                pid = json.loads((run_dir / "status.json").read_text()).get("pid")
                if pid:
                    os.killpg(pid, 9)
        shutil.rmtree(home, ignore_errors=True)

    every = sorted(x for times in loads.values() for x in times)
    p95 = every[min(len(every) - 1, round(0.95 * (len(every) - 1)))]
    alone = (before["img_s"] + after["img_s"]) / 2
    ratio = during["img_s"] / alone
    report.figure("sessions", len(students), "sessions")
    report.figure("page_load_p50_s", statistics.median(every), "s")
    report.figure("page_load_p95_s", p95, "s")
    report.figure("page_load_max_s", every[-1], "s")
    report.figure("sign_in_median_s", statistics.median(sign_ins), "s")
    report.figure("job_img_per_s_alone", alone, "img/s")
    report.figure("job_img_per_s_with_sessions", during["img_s"], "img/s")
    report.figure("job_ratio", ratio, "ratio")
    rows = [f"| {path} | {len(times)} | {statistics.median(times):.2f} | "
            f"{sorted(times)[min(len(times) - 1, round(0.95 * (len(times) - 1)))]:.2f} | "
            f"{max(times):.2f} | {cold[path]:.2f} |" for path, times in loads.items()]
    report.lines += [
        f"{len(students)} students signed in (oidc-provider-mock; median sign-in "
        f"{statistics.median(sign_ins):.1f} s), each with a run waiting for the device and its "
        f"Train page open, while a `{DEFAULT_PRESET}` job (batch {s['batch']}, "
        f"{s['images']:,} portraits) trains in the one slot. The sessions in turn open "
        f"Train, Dataset and Explore ({len(every)} loads); seconds from navigation to the "
        "page's title drawn and its script finished. Chromium shares the 2 cores at nice 19 "
        "(in a class it runs on the students' machines).",
        "",
        "| page | loads | p50 s | p95 s | max s | first load after start |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"All pages: p50 **{statistics.median(every):.2f} s**, p95 **{p95:.2f} s** (goal <= 5 s: "
        f"**{'met' if p95 <= 5 else 'not met'}**), max {every[-1]:.2f} s.",
        "",
        "| phase | job images/s | server CPU s/min | job CPU s/min | Chromium CPU s/min |",
        "|---|---:|---:|---:|---:|",
        *(f"| {name} | {r['img_s']:.0f} | {r['server']:.1f} | {r['job']:.0f} | "
          f"{r['chromium']:.1f} |"
          for name, r in (("alone, before", before), (f"{len(students)} sessions", during),
                          ("alone, after", after))),
        "",
        f"The job keeps **{ratio:.2f}x** its images/s alone with {len(students)} sessions open "
        f"(goal >= 0.80: **{'met' if ratio >= 0.8 else 'not met'}**).",
    ]
    report.write()
    return report
