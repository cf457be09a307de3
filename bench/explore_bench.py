"""Explorer latency: slider value -> PNG bytes, for one portrait and a 64-portrait grid.

Server-side only (the work a slider move triggers): z from the seed plus the slider
directions, the generator's tf.function, upscaling and PNG encoding. `model.predict` and
Pillow's default PNG compression are timed beside them for the ratios.
"""

from __future__ import annotations

import io
import statistics
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, Report


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def run(quick: bool = False, out_dir: Path = ROOT) -> Report:
    from dcgan.config import preset
    from dcgan.export import RunGenerator, grid_png, png_bytes, upscale
    from dcgan.images import image_grid
    from dcgan.latent import apply_directions, truncate, z_from_seed, z_from_seeds
    from dcgan.models import build_generator
    from dcgan.trainer import configure_threads

    configure_threads()
    config = preset("dcgan")
    model = build_generator(config.model)
    generator = RunGenerator(model, config.value_range, "bench")
    directions = np.linalg.qr(np.random.default_rng(0).standard_normal((100, 8)))[0].T
    amounts = np.linspace(-1, 1, 8).astype(np.float32)
    repeats = 5 if quick else 50

    def one_portrait() -> bytes:
        z = apply_directions(truncate(z_from_seed(7, 100), 0.8), directions, amounts)
        return png_bytes(upscale(generator.images(z[None])[0], 512))

    def predict_portrait() -> bytes:
        z = apply_directions(truncate(z_from_seed(7, 100), 0.8), directions, amounts)
        out = model.predict(z[None], verbose=0)[0]
        image = np.clip(np.rint((out + 1) * 127.5), 0, 255).astype(np.uint8)
        return png_bytes(upscale(image, 512))

    def grid64() -> bytes:
        return grid_png(generator.images(z_from_seeds(list(range(64)), 100)), 8, 1)

    def grid64_default_png() -> bytes:
        buf = io.BytesIO()
        image_grid(generator.images(z_from_seeds(list(range(64)), 100)), 8).save(buf, "PNG")
        return buf.getvalue()

    report = Report("explore", out_dir)
    one = report.figure("portrait_ms", _median_ms(one_portrait, repeats), "ms")
    pred = report.figure("portrait_predict_ms", _median_ms(predict_portrait, repeats), "ms")
    grid = report.figure("grid64_ms", _median_ms(grid64, repeats), "ms")
    slow = report.figure("grid64_default_png_ms", _median_ms(grid64_default_png, repeats), "ms")
    browser = None if quick else browser_round_trip()
    if browser is not None:
        report.figure("browser_round_trip_ms", browser, "ms")
    report.lines += [
        "Server-side time from a slider value to PNG bytes (`dcgan` preset generator, median "
        f"of {repeats}):",
        "",
        "| what | ms | goal |",
        "|---|---:|---:|",
        f"| one portrait, 512x512 PNG, through the cached `tf.function` | **{one:.1f}** | "
        "<= 15 |",
        f"| the same with `model.predict` | {pred:.1f} ({pred / one:.1f}x slower) | |",
        f"| 64-portrait grid, PNG compress_level 1 | **{grid:.1f}** | <= 120 |",
        f"| the same grid with Pillow's default PNG compression | {slow:.1f} | |",
        "",
        ("Browser round trip, Chromium, from a slider key press on a settled page to the "
         f"new portrait (demo generator, median of 10): **{browser:.0f} ms** (goal <= 300)."
         if browser is not None else
         "Browser round trip: not measured in this run (quick mode, or no Chromium / demo)."),
    ]
    report.write()
    return report


def browser_round_trip(moves: int = 10) -> float | None:
    """Median ms from a slider key press to the new portrait in Chromium (demo generator).

    None when Chromium or the demo generator is missing.
    """
    import os
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import tempfile
    import urllib.request

    from dcgan.export import demo_available

    chromium = "/usr/bin/chromium"
    if not (demo_available() and shutil.which(chromium)):
        return None
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tempfile.mkdtemp(prefix="dcgan-bench-ws-")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env={**os.environ, "DCGAN_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/explore")
            img = "[data-testid='stImage'] img"
            page.wait_for_selector(img, timeout=180_000)
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
            thumb = page.get_by_role("slider").filter(visible=True).nth(1)
            thumb.focus()
            settled = "[data-testid='stApp'][data-test-script-state='notRunning']"
            times = []
            for _ in range(moves):
                # One move at a time, as a person would: from a settled page (a key press
                # during a rerun queues behind it and would time both).
                page.wait_for_selector(settled)
                page.wait_for_timeout(200)
                before = page.locator(img).first.get_attribute("src")
                start = time.perf_counter()
                thumb.press("ArrowRight")
                page.wait_for_function(
                    "([sel, before]) => document.querySelector(sel).src !== before",
                    arg=[img, before], timeout=30_000)
                times.append(time.perf_counter() - start)
            browser.close()
        return 1000 * statistics.median(times)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
