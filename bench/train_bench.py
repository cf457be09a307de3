"""Training throughput: matmul peak, the bare train step of each preset, the real CLI job.

FLOP accounting (multiply-adds x 2, from dcgan.train.models.conv_flops; G, D = one forward pass
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

import numpy as np
import psutil

from bench.common import ROOT, Report, timed

PRESET_NAMES = ("ml241", "dcgan", "wgan-gp", "demo", "studio")
# Quick mode (the smoke test) traces the default preset and the one its ratio is over.
QUICK_PRESETS = ("demo", "studio")


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


def bare_step(name: str, steps: int, batch_size: int | None = None,
              **overrides) -> dict:
    """img/s and GFLOP/s of `train_step` on one in-memory batch (no input, K = 1)."""
    import tensorflow as tf

    from dcgan.config import preset
    from dcgan.train.models import conv_flops
    from dcgan.train.step import GanTrainer, setup_device

    config = preset(name).with_overrides(**overrides)
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
            "gflops": flops * config.train.batch_size / seconds / 1e9,
            "policy": trainer.device.policy}


def steps_per_second(trainer, source, args_fn, per_epoch: int, k: int,
                     seconds: float = 3.0) -> float:
    """Steps/s of `trainer.train_steps` over `source` (call arguments `args_fn(epoch, batch)`)
    in calls of `k` steps (0: the automatic CallSize), cut at epoch ends as training does."""
    from dcgan.train.step import CallSize

    size, step = CallSize(k), 0

    def call() -> int:
        count = min(size.k, per_epoch - step % per_epoch)
        args = args_fn(step // per_epoch, step % per_epoch)
        started = time.perf_counter()
        done = len(trainer.train_steps(source, args, step, count))
        size.observe(done, time.perf_counter() - started)
        return done

    # Trace every step kind (WGAN-GP's generator step comes at step n_critic - 1), then let
    # the automatic K settle; then at least `seconds` and 6 steps are timed.
    while step < max(3, trainer.config.train.n_critic + 1) or size.calls < 3:
        step += call()
    start, first = time.perf_counter(), step
    while time.perf_counter() - start < seconds or step - first < 6:
        step += call()
    return (step - first) / (time.perf_counter() - start)


def host_overhead(quick: bool) -> dict:
    """A network so small that the per-call cost dominates: K = 1 vs the automatic K."""
    from dcgan.config import preset
    from dcgan.train.pipeline import ResidentImages, input_spec
    from dcgan.train.step import GanTrainer, setup_device

    config = preset("dcgan").with_overrides(g_filters=8, d_filters=8, batch_size=8,
                                            latent_dim=16, mixed_precision="off")
    images = np.random.default_rng(0).integers(0, 256, (512, 64, 64, 3), dtype=np.uint8)
    source = ResidentImages(images, input_spec(config))
    per_epoch = len(images) // config.train.batch_size
    trainer = GanTrainer(config, setup_device(config))  # one trace serves every K
    return {label: steps_per_second(trainer, source, source.args, per_epoch, k,
                                    0.5 if quick else 4.0)
            for label, k in (("k1", 1), ("auto", 0), ("k64", 64))}


def evaluation_seconds(cache: Path, n: int, repeats: int = 3) -> dict:
    """Seconds of the metrics of one evaluation: recomputed each time (before) vs an
    Evaluator that keeps the reference's side (after); the values must be identical."""
    from dcgan.quality.evaluator import Evaluator
    from dcgan.quality.metrics import quality

    evaluator = Evaluator(cache, n, seed=0)
    rows = [r for r in range(len(evaluator.reader)) if r not in set(evaluator.split.reference)]
    fake = evaluator.reader.read(np.asarray(rows[:evaluator.split.size]))
    first_start = time.perf_counter()
    after_values = evaluator.quality(fake)  # builds the reference's side
    first = time.perf_counter() - first_start
    before, after = [], []
    for _ in range(repeats):
        seconds, before_values = timed(quality, fake, evaluator.reference, 0)
        before.append(seconds)
        seconds, again = timed(evaluator.quality, fake)
        after.append(seconds)
        if before_values != after_values or again != after_values:
            raise AssertionError("cached evaluation differs from the recomputed one")
    return {"before": min(before), "after": min(after), "first": first,
            "n": evaluator.split.size}


def _dataset(home: Path, name: str, count: int) -> None:
    from dcgan.data.prepare import prepare_dataset
    from dcgan.data.synthetic import generate_dataset
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


def _tiled_dataset(home: Path, name: str, count: int, source: str) -> None:
    """A prepared cache of `count` rows, the rows of dataset `source` repeated (RSS only)."""
    from dcgan.data.cache import CacheReader
    from dcgan.workspace import Workspace

    ws = Workspace(home)
    path = ws.cache_dir(name) / "images.npy"
    if path.is_file() and CacheReader(path).shape[0] == count:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.load(ws.prepared_cache(source), mmap_mode="r")
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                    shape=(count, *rows.shape[1:]))
    for start in range(0, count, len(rows)):
        out[start:start + len(rows)] = rows[:count - start]
    out.flush()
    del out


TODAY = ["--mixed-precision", "off", "--steps-per-call", "1", "--resident-data", "off"]


def run(quick: bool = False, out_dir: Path = ROOT) -> Report:
    from dcgan.config import DEFAULT_PRESET
    from dcgan.train.step import configure_threads, cpu_has_bf16
    from dcgan.workspace import Workspace

    configure_threads()
    report = Report("train", out_dir)
    home = out_dir / "bench" / "out" / "train-workspace"
    size = 1024 if quick else 4096
    peaks = {"float32": report.figure("matmul_peak_gflops", matmul_peak(size), "GFLOP/s"),
             "bf16": report.figure("matmul_peak_bf16_gflops",
                                   matmul_peak(size, dtype="bfloat16"), "GFLOP/s")}
    rows, bare = [], {}
    for name in QUICK_PRESETS if quick else PRESET_NAMES:
        cells = []
        for label, flag in (("float32", "off"), ("bf16", "bf16")):
            result = bare_step(name, 2 if quick else 12, batch_size=8 if quick else None,
                               mixed_precision=flag)
            bare[name, label] = result["img_s"]
            pct = 100 * result["gflops"] / peaks[label]
            suffix = "" if label == "float32" else "_bf16"
            report.figure(f"{name}_step_img_per_s{suffix}", result["img_s"], "img/s")
            report.figure(f"{name}_step_pct_of_peak{suffix}", pct, "%")
            cells.append(f"{result['img_s']:.1f} | {pct:.0f}%")
        rows.append(f"| `{name}` | {result['batch']} | " + " | ".join(cells)
                    + f" | {bare[name, 'bf16'] / bare[name, 'float32']:.2f}x |")
    recipe = report.figure("studio_over_demo_img_per_s", bare["studio", "float32"]
                           / bare["demo", "float32"], "ratio")

    # End to end: the CLI job as the app starts it, the default preset, today's path
    # (float32, one step per call, images streamed) vs the defaults (auto precision, K, data).
    steps, epochs = (2, 2) if quick else (60, 3)
    _dataset(home, "bench-e2e", 300 if quick else 4000)
    e2e_args = ["--preset", DEFAULT_PRESET, "--epochs", str(epochs), "--steps-per-epoch",
                str(steps), "--eval-every", "0"]
    if quick:
        e2e_args += ["--g-filters", "8", "--d-filters", "8", "--batch-size", "8"]
    batch = 8 if quick else 64
    e2e = {}
    for label, extra in (("today", TODAY), ("default", [])):
        run_dir, _ = cli_job(home, "bench-e2e", e2e_args + extra)
        e2e[label] = report.figure(f"{DEFAULT_PRESET}_end_to_end_img_per_s_{label}",
                                   end_to_end_rate(run_dir, batch), "img/s")
        status = json.loads((run_dir / "status.json").read_text())
        e2e[f"{label}_setup"] = f"{status['device']}; data {status['input']}"
    speedup = report.figure("end_to_end_default_over_today", e2e["default"] / e2e["today"],
                            "ratio")
    policy = "bf16" if cpu_has_bf16() else "float32"
    over_bare = report.figure("end_to_end_over_bare_step",
                              e2e["default"] / bare[DEFAULT_PRESET, policy], "ratio")

    overhead = host_overhead(quick)
    k_gain = report.figure("tiny_steps_per_s_auto_k_over_k1", overhead["auto"] / overhead["k1"],
                           "ratio")
    report.figure("tiny_steps_per_s_k1", overhead["k1"], "steps/s")
    report.figure("tiny_steps_per_s_auto_k", overhead["auto"], "steps/s")
    call_ms = report.figure("host_overhead_ms_per_call",
                            1e3 * (1 / overhead["k1"] - 1 / overhead["k64"]), "ms")

    evaluation = evaluation_seconds(Workspace(home).prepared_cache("bench-e2e"),
                                    8 if quick else 512)
    for key in ("before", "after", "first"):
        report.figure(f"evaluation_seconds_{key}", evaluation[key], "s")

    rss = []
    counts = (300,) if quick else (2_000, 20_000, 200_000)  # quick: one run shows the path
    for count in counts:
        name = f"bench-rss-{count}"
        _tiled_dataset(home, name, count, "bench-e2e")
        small = ["--g-filters", "8", "--d-filters", "8", "--steps-per-epoch", "2"] if quick \
            else ["--steps-per-epoch", "5"]  # quick: where the images go, not the RSS itself
        run_dir, peak_rss = cli_job(home, name, ["--preset", "ml241", "--epochs", "1",
                                                 "--batch-size", "64", "--checkpoint-every", "1",
                                                 "--eval-every", "0", *small])
        held = json.loads((run_dir / "status.json").read_text())["input"]
        rss.append((count, report.figure(f"peak_rss_mb_{count}_images", peak_rss / 2**20, "MiB"),
                    held))

    report.lines += [
        f"Matmul peaks (TensorFlow, {size}^2, best of 5): float32 **{peaks['float32']:.0f}**, "
        f"bfloat16 **{peaks['bf16']:.0f} GFLOP/s** ({peaks['bf16'] / peaks['float32']:.2f}x). "
        f"This CPU has bf16 instructions: {cpu_has_bf16()}.",
        "",
        "Bare train step (`GanTrainer.train_step` on an in-memory batch, plain `tf.function`,"
        " oneDNN, intra-op threads = cores), FLOPs counted as in `bench/train_bench.py`, "
        "% of the matmul peak of the same precision:",
        "",
        "| preset | batch | float32 img/s | % of peak | bf16 img/s | % of bf16 peak | bf16 gain |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"`studio` is `demo`'s networks with the recipe (EMA update, spectral norm, "
        f"augmentation of D's inputs in both updates, hinge loss): **{recipe:.2f}x** its "
        "float32 images/s.",
        "",
        f"End to end, `python -m dcgan train --preset {DEFAULT_PRESET}` ({epochs} epochs x "
        f"{steps} steps; the preset's logging, a sample grid every epoch, a checkpoint and "
        f"generator.keras at the end; evaluation off), from the first logged step to the end:",
        f"- today's path (`{' '.join(TODAY)}`: {e2e['today_setup']}): "
        f"**{e2e['today']:.1f} images/s**;",
        f"- the defaults ({e2e['default_setup']}): **{e2e['default']:.1f} images/s**, "
        f"**{speedup:.2f}x** today's"
        + ("" if quick else f", {over_bare:.2f} of the bare {policy} step."),
        "",
        f"Per-call host overhead: a tiny `dcgan` (8 filters, batch 8, float32, images in "
        f"memory) runs **{overhead['k1']:.0f} steps/s** with one step per call and "
        f"**{overhead['auto']:.0f}** with the automatic K (**{k_gain:.2f}x**), "
        f"{overhead['k64']:.0f} with K = 64: the host's cost of a call is "
        f"**{call_ms:.1f} ms**, against {1e3 / overhead['k64']:.1f} ms of in-graph work per "
        "step (on a CPU even a tiny GAN step is thousands of small ops). K pays where a step "
        "takes a few ms, i.e. on GPUs; `bench --only gpu` measures it there.",
        "",
        f"Evaluation metrics at n = {evaluation['n']} (SWD, colour, MS-SSIM; sampling the "
        f"generator not included): **{evaluation['before']:.2f} s** recomputing the real side "
        f"every time, **{evaluation['after']:.2f} s** with the Evaluator's cached reference "
        f"(identical values, checked; the first call, which builds the cache, "
        f"{evaluation['first']:.2f} s).",
        "",
        "Peak RSS of the training job (`ml241`, 5 steps, defaults), by dataset size: "
        + ", ".join(f"{count:,} images: {mb:.0f} MiB ({held})" for count, mb, held in rss)
        + ". Sets up to 1 GiB (and a quarter of free memory) are held in memory; larger ones "
        "are streamed with pread, so memory stops following the data.",
    ]
    report.write()
    return report
