"""Training throughput: matmul peak, the bare train step of each preset, the real CLI job.

FLOP accounting (multiply-adds x 2, from dcgan.models.conv_flops; G, D = one forward pass
of one image through the generator / discriminator):
- discriminator update: G forward + D forward on real and fake (2D) + D backward, weights
  and inputs (4D)                                          -> G + 6D
- generator update (every n_critic steps; reuses the fake images): D forward (D) + D
  backward to its input only (D) + G backward (2G)          -> 2G + 2D
- WGAN-GP gradient penalty: forward and input gradient on the mixed images, then their
  backward for the critic's weights                         -> about 5D
so a BCE step costs 3G + 8D per image. Percentages are of the float32 matmul peak measured
in the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.common import ROOT, Report

PRESET_NAMES = ("ml241", "dcgan", "wgan-gp", "demo", "studio")


def matmul_peak(n: int = 4096, repeats: int = 5, dtype: str = "float32") -> float:
    """GFLOP/s of an n x n matmul in `dtype` (float32 or bfloat16), best of `repeats`."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal([n, n]), dtype)
    b = tf.cast(tf.random.normal([n, n]), dtype)
    mm = tf.function(lambda x, y: tf.matmul(x, y))
    mm(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        mm(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def step_flops(config, g_flops: int, d_flops: int) -> float:
    """FLOPs of one train step per image (see the module docstring)."""
    t = config.train
    per_d = g_flops + 6 * d_flops + (5 * d_flops if t.loss == "wgan-gp" else 0)
    per_g = t.g_steps * (2 * g_flops + 2 * d_flops)
    return per_d + per_g / t.n_critic


def bare_step(name: str, steps: int, batch_size: int | None = None) -> dict:
    import tensorflow as tf

    from dcgan.config import preset
    from dcgan.models import conv_flops
    from dcgan.trainer import GanTrainer, setup_device

    config = preset(name)
    if batch_size:
        config = config.with_overrides(batch_size=batch_size)
    trainer = GanTrainer(config, setup_device(config))
    lo, hi = config.value_range
    batch = tf.random.uniform([config.train.batch_size, 64, 64, 3], lo, hi)
    for step in range(max(3, config.train.n_critic)):  # trace both step variants
        trainer.train_step(batch, step)
    start = time.perf_counter()
    for step in range(steps):
        trainer.train_step(batch, 100 + step)
    seconds = (time.perf_counter() - start) / steps
    flops = step_flops(config, conv_flops(trainer.generator), conv_flops(trainer.discriminator))
    return {"batch": config.train.batch_size, "img_s": config.train.batch_size / seconds,
            "gflops": flops * config.train.batch_size / seconds / 1e9}


def _dataset(home: Path, name: str, count: int) -> None:
    from dcgan.prepare import prepare_dataset
    from dcgan.synthetic import generate_dataset
    from dcgan.workspace import Workspace

    ws = Workspace(home).ensure()
    if not (ws.dataset_dir(name) / "import_report.json").is_file():
        shutil.rmtree(ws.dataset_dir(name), ignore_errors=True)
        generate_dataset(ws.dataset_dir(name), count, seed=0, size=64)
    prepare_dataset(ws, name)


def cli_job(home: Path, dataset: str, args: list[str]) -> tuple[Path, int]:
    """Run `python -m dcgan train` as the app would; returns (run folder, peak RSS bytes)."""
    env = {**os.environ, "DCGAN_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "dcgan", "train", "--dataset", dataset, "--no-progress",
           *args]
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    output = process.stdout.read()
    if process.returncode != 0:
        raise RuntimeError(f"train failed:\n{output[-3000:]}")
    run_line = next(line for line in output.splitlines() if line.startswith("run "))
    return Path(run_line[4:].strip()), peak


def end_to_end_rate(run_dir: Path, batch: int) -> float:
    """Images per second from the first logged step to the end of the run, all included."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    finished = json.loads((run_dir / "status.json").read_text())["finished"]
    first = steps[0]
    return (steps[-1]["step"] - first["step"]) * batch / (finished - first["time"])


def run(quick: bool = False, out_dir: Path = ROOT) -> Report:
    from dcgan.trainer import configure_threads

    configure_threads()
    report = Report("train", out_dir)
    home = out_dir / "bench" / "out" / "train-workspace"
    peak = report.figure("matmul_peak_gflops", matmul_peak(1024 if quick else 4096), "GFLOP/s")
    rows = []
    for name in PRESET_NAMES:
        result = bare_step(name, 2 if quick else 12, batch_size=8 if quick else None)
        report.figure(f"{name}_step_img_per_s", result["img_s"], "img/s")
        report.figure(f"{name}_step_pct_of_peak", 100 * result["gflops"] / peak, "%")
        rows.append(f"| `{name}` | {result['batch']} | {result['img_s']:.1f} | "
                    f"{result['gflops']:.0f} | {100 * result['gflops'] / peak:.0f}% |")

    rates = {f["name"]: f["value"] for f in report.figures}
    recipe = report.figure("studio_over_demo_img_per_s", rates["train.studio_step_img_per_s"]
                           / rates["train.demo_step_img_per_s"], "ratio")

    steps, epochs = (2, 2) if quick else (20, 3)
    _dataset(home, "bench-e2e", 300 if quick else 4000)
    batch = 8 if quick else 128
    e2e_args = ["--preset", "dcgan", "--epochs", str(epochs), "--steps-per-epoch", str(steps),
                "--checkpoint-every", "1", "--log-every", "5", "--batch-size", str(batch)]
    if quick:
        e2e_args += ["--g-filters", "8", "--d-filters", "8"]
    run_dir, _ = cli_job(home, "bench-e2e", e2e_args)
    e2e = report.figure("dcgan_end_to_end_img_per_s", end_to_end_rate(run_dir, batch), "img/s")
    bare_dcgan = report.figures[[f["name"] for f in report.figures].index(
        "train.dcgan_step_img_per_s")]["value"]
    if not quick:
        report.figure("end_to_end_over_bare_step", e2e / bare_dcgan, "ratio")

    rss = []
    for count in ((300, 600) if quick else (2000, 8000)):
        name = f"bench-rss-{count}"
        _dataset(home, name, count)
        _, peak_rss = cli_job(home, name, ["--preset", "ml241", "--epochs", "1",
                                           "--steps-per-epoch", "5", "--batch-size", "64",
                                           "--checkpoint-every", "1"])
        rss.append((count, report.figure(f"peak_rss_mb_{count}_images", peak_rss / 2**20, "MiB")))

    report.lines += [
        f"float32 matmul peak (TensorFlow, {'1024' if quick else '4096'}^2, best of 5): "
        f"**{peak:.0f} GFLOP/s**.",
        "",
        "Bare train step (`GanTrainer.train_step` on an in-memory batch, plain `tf.function`,"
        " oneDNN, intra-op threads = cores), FLOPs counted as in `bench/train_bench.py`:",
        "",
        "| preset | batch | images/s | GFLOP/s | % of matmul peak |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"`studio` is `demo`'s networks with the recipe (EMA update, spectral norm, "
        f"augmentation of D's inputs in both updates, hinge loss): **{recipe:.2f}x** its "
        "images/s.",
        "",
        f"End to end, `python -m dcgan train --preset dcgan` ({epochs} epochs x {steps} steps, "
        "logging every 5 steps, a sample grid and a checkpoint + generator.keras every "
        f"epoch): **{e2e:.1f} images/s**"
        + ("" if quick else f", {e2e / bare_dcgan:.2f} of the bare step."),
        "",
        "Peak RSS of the training job (`ml241`, 5 steps), by dataset size: "
        + ", ".join(f"{count:,} images: {mb:.0f} MiB" for count, mb in rss)
        + " (rows are read with pread, not mapped, so memory does not follow the data).",
    ]
    report.write()
    return report
