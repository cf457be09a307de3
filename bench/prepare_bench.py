"""Prepare throughput against a naive single-process loop, and the tf.data input rate.

Data: CelebA-shaped JPEGs (178x218, quality 95) made from the synthetic portraits. Both
contenders run in the same process, one after the other, on the same files, with a cold
cache for `prepare` (its cache folder is deleted first).
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import ROOT, Report, timed
from dcgan.data.prepare import prepare_dataset
from dcgan.data.synthetic import render_portrait
from dcgan.workspace import Workspace

CELEBA_SIZE = (178, 218)


def _write_celeba_chunk(args: tuple[str, int, int]) -> None:
    folder, start, stop = args
    for i in range(start, stop):
        face = render_portrait(seed=1234, index=i, size=128)
        big = face.resize((218, 218), Image.Resampling.BICUBIC)
        left = (218 - CELEBA_SIZE[0]) // 2
        big.crop((left, 0, left + CELEBA_SIZE[0], 218)).save(
            os.path.join(folder, f"{i:06d}.jpg"), quality=95)


def make_celeba_like(folder: Path, count: int) -> Path:
    """Write `count` 178x218 JPEGs once; later runs reuse them."""
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.jpg"))) == count:
        return folder
    shutil.rmtree(folder)
    folder.mkdir(parents=True)
    chunks = [(str(folder), i, min(i + 500, count)) for i in range(0, count, 500)]
    with ProcessPoolExecutor(os.cpu_count(), mp_context=get_context("spawn")) as pool:
        list(pool.map(_write_celeba_chunk, chunks))
    return folder


def naive_prepare(folder: Path, size: int = 64) -> np.ndarray:
    """The baseline: one process, open, convert to RGB, centre crop, Lanczos resize."""
    rows = []
    for path in sorted(folder.glob("*.jpg")):
        img = Image.open(path).convert("RGB")
        w, h = img.size
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        rows.append(np.asarray(img.resize((size, size), Image.Resampling.LANCZOS)))
    return np.stack(rows)


def pipeline_rate(cache: Path, batches: int) -> float:
    from dcgan.train.pipeline import InputSpec, make_dataset

    dataset = make_dataset(cache, InputSpec(batch_size=64, flip=True), epochs=None)
    iterator = iter(dataset)
    for _ in range(5):  # warm-up: tracing and the prefetch buffer
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * 64 / (time.perf_counter() - start)


def run(quick: bool = False, out_dir: Path = ROOT) -> Report:
    count = 400 if quick else 20_000
    work = out_dir / "bench" / "out"
    ws = Workspace(work / "workspace").ensure()
    name = f"celeba-like-{count}"
    make_celeba_like(ws.dataset_dir(name), count)
    quarter = f"celeba-like-{count}-quarter"
    if not ws.dataset_dir(quarter).exists():
        ws.dataset_dir(quarter).mkdir()
        for path in sorted(ws.dataset_dir(name).glob("*.jpg"))[: count // 4]:
            os.link(path, ws.dataset_dir(quarter) / path.name)

    report = Report("prepare", out_dir)
    for dataset in (name, quarter):
        shutil.rmtree(ws.cache_dir(dataset), ignore_errors=True)
    centre = functools.partial(prepare_dataset, crop="center")  # this bench: the centre crop
    t_quarter, _ = timed(centre, ws, quarter)
    t_prepare, result = timed(centre, ws, name)
    t_again, again = timed(centre, ws, name)
    t_naive, naive = timed(naive_prepare, ws.dataset_dir(name))
    assert result.count == count and naive.shape[0] == count and again.up_to_date

    rate = report.figure("prepare_img_per_s", count / t_prepare, "img/s")
    naive_rate = report.figure("naive_img_per_s", count / t_naive, "img/s")
    speedup = report.figure("speedup_vs_naive", rate / naive_rate, "x")
    quarter_rate = count / 4 / t_quarter
    linearity = report.figure("rate_full_over_quarter", rate / quarter_rate, "ratio")
    minutes_200k = report.figure("extrapolated_200k_minutes", 200_000 / rate / 60, "min")
    report.figure("rerun_unchanged_s", t_again, "s")
    input_rate = report.figure("pipeline_img_per_s",
                               pipeline_rate(ws.cache_dir(name) / "images.npy",
                                             20 if quick else 300), "img/s")
    report.lines += [
        f"`prepare` on {count:,} CelebA-shaped JPEGs (178x218, q95) -> 64x64, "
        f"{os.cpu_count()} worker processes, JPEG draft decoding:",
        "",
        "| what | images/s | time | ratio |",
        "|---|---:|---:|---:|",
        f"| naive loop (1 process: open, RGB, crop, Lanczos) | {naive_rate:,.0f} | "
        f"{t_naive:.1f} s | 1.00 |",
        f"| `python -m dcgan prepare` | {rate:,.0f} | {t_prepare:.1f} s | **{speedup:.2f}x** |",
        f"| `prepare` on a quarter of the files | {quarter_rate:,.0f} | {t_quarter:.1f} s | |",
        f"| re-run on the unchanged dataset | | {t_again:.2f} s | |",
        "",
        f"Rate at full size over rate at a quarter: {linearity:.2f} (1.0 = linear), so "
        f"200,000 images extrapolate to **{minutes_200k:.1f} min** (goal: <= 5 min).",
        "",
        f"Input pipeline from the cache (batch 64, flip on, pread rows): "
        f"**{input_rate:,.0f} images/s**, far above a CPU train step's ~80-170 img/s.",
    ]
    report.write()
    return report
