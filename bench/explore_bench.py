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
        "The browser round trip (slider move to new image) is not measured by `make bench` "
        "yet; the browser test checks that the image changes.",
    ]
    report.write()
    return report
