"""Time to quality: every preset and both references train for the same wall time.

All contenders train on the same prepared synthetic dataset (the reference sample held out)
for `budget` seconds of training time each, one after the other on this machine. At fixed
time points the clock is paused and the generator is scored against the held-out sample
with dcgan.metrics (SWD on Laplacian pyramids, MS-SSIM diversity, same latents, same seed).
The first iteration of each contender (n_critic of them for wgan-gp, whose step has a critic-only
variant) traces its step and is not timed. Throughput is the
images trained per second of that clock, and % of matmul peak uses each contender's own
FLOPs per image (see bench/train_bench.py and bench/references/).

Output: a table and a chart (docs/images/time_to_quality.png, drawn with Plotly and
rendered by headless Chromium when one is installed; the Plotly HTML otherwise).
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import ROOT, Report

PRESETS = ("dcgan", "ml241", "wgan-gp", "demo")
REFERENCES = {"keras-io": "bench.references.keras_io_faces",
              "radford": "bench.references.radford"}
DEFAULT_PRESET = "dcgan"  # the app's and the CLI's default
FULL = {"budget": 300.0, "images": 10_000, "eval_images": 512}
QUICK = {"budget": 2.0, "images": 300, "eval_images": 8, "batch_size": 8}
POINTS = (0.1, 0.25, 0.5, 0.75, 1.0)  # fractions of the budget at which quality is scored


@dataclass
class Contender:
    name: str
    kind: str  # "preset" | "reference"
    batch_size: int
    latent_dim: int
    step: object  # () -> None, one iteration, synchronous
    sample: object  # (k, latent) float32 -> (k, 64, 64, 3) uint8
    flops_per_image: float
    warmup: int = 1  # untimed first iterations: enough to trace every step variant


def preset_contender(name: str, cache: Path, rows: np.ndarray | None,
                     batch_size: int | None, seed: int = 0) -> Contender:
    from bench.train_bench import step_flops
    from dcgan.config import preset
    from dcgan.models import conv_flops
    from dcgan.pipeline import input_spec, make_dataset
    from dcgan.trainer import GanTrainer, setup_device

    config = preset(name).with_overrides(seed=seed)
    if batch_size:
        config = config.with_overrides(batch_size=batch_size)
    device = setup_device(config)
    trainer = GanTrainer(config, device)
    t = config.train
    batches = iter(device.strategy.experimental_distribute_dataset(
        make_dataset(cache, input_spec(config), rows=rows)))
    counter = iter(range(10**12))
    flops = step_flops(config, conv_flops(trainer.generator), conv_flops(trainer.discriminator))
    return Contender(name, "preset", t.batch_size, config.model.latent_dim,
                     lambda: trainer.train_step(next(batches), next(counter)),
                     trainer.sample, flops, warmup=t.n_critic)


def reference_contender(name: str, images: np.ndarray, batch_size: int | None,
                        seed: int = 0) -> Contender:
    module = importlib.import_module(REFERENCES[name])
    ref = module.build(images, batch_size or module.BATCH_SIZE, seed)

    def step() -> None:
        d_loss, _ = ref.step()
        float(d_loss)  # wait for the step to finish

    return Contender(name, "reference", ref.batch_size, ref.latent_dim, step, ref.sample,
                     ref.flops_per_image)


def train_for(contender: Contender, points: list[float], evaluator) -> list[dict]:
    """Train until each time point (seconds of training), scoring the generator at each."""
    for _ in range(contender.warmup):  # traces the step (both variants with n_critic > 1)
        contender.step()
    trained, images, out = 0.0, 0, []
    for point in points:
        while trained < point:
            start = time.perf_counter()
            contender.step()
            trained += time.perf_counter() - start
            images += contender.batch_size
        record = evaluator(contender.sample, contender.latent_dim)
        out.append({"seconds": trained, "images": images, "swd": record["swd"],
                    "ms_ssim": record["ms_ssim"]})
        print(f"  {contender.name} {trained:6.1f} s {images:7d} img  SWD {record['swd']:7.1f}"
              f"  MS-SSIM {record['ms_ssim']:.3f}", flush=True)
    return out


def _chart(results: dict, points: list[float], floor: float, out_dir: Path) -> str:
    """Write the SWD-vs-seconds chart; returns its path relative to out_dir."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, rows in results.items():
        fig.add_trace(go.Scatter(x=[r["seconds"] for r in rows], y=[r["swd"] for r in rows],
                                 mode="lines+markers", name=name))
    seconds = [r["seconds"] for rows in results.values() for r in rows]
    fig.add_trace(go.Scatter(x=[0, max(seconds)], y=[floor, floor], mode="lines",
                             name="real vs real floor",
                             line={"dash": "dash", "color": "grey"}))
    fig.update_layout(title="Time to quality (lower is better)", width=900, height=500,
                      xaxis_title="training seconds (same machine, one after another)",
                      yaxis_title="SWD x1e3 (mean of 64/32/16 px levels)", yaxis_type="log",
                      template="plotly_white", margin={"l": 70, "r": 20, "t": 60, "b": 60})
    folder = out_dir / "docs" / "images"
    folder.mkdir(parents=True, exist_ok=True)
    html = folder / "time_to_quality.html"
    fig.write_html(html, include_plotlyjs=True, full_html=True)
    png = folder / "time_to_quality.png"
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        return str(html.relative_to(out_dir))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        page = browser.new_page(viewport={"width": 920, "height": 520})
        page.goto(html.as_uri())
        page.wait_for_selector(".main-svg")
        page.locator(".plotly").first.screenshot(path=str(png))
        browser.close()
    html.unlink()  # the PNG is what BENCHMARKS.md shows; the HTML is 4 MB of plotly.js
    return str(png.relative_to(out_dir))


def run(quick: bool = False, out_dir: Path = ROOT, budget: float | None = None,
        seed: int = 0, contenders: list[str] | None = None) -> Report:
    """Train each contender for `budget` s; `seed` seeds their training (not the scoring).

    `contenders` picks a subset (it must include the default preset); None runs them all.
    """
    chosen = [c for c in (*PRESETS, *REFERENCES) if contenders is None or c in contenders]
    if DEFAULT_PRESET not in chosen:
        raise ValueError(f"the contenders must include the default preset {DEFAULT_PRESET}")
    presets = [c for c in chosen if c in PRESETS]
    references = [c for c in chosen if c in REFERENCES]
    from bench.train_bench import _dataset, matmul_peak
    from dcgan.metrics import Evaluator
    from dcgan.trainer import configure_threads
    from dcgan.workspace import Workspace

    configure_threads()
    settings = {**(QUICK if quick else FULL), **({"budget": budget} if budget else {})}
    report = Report("quality", out_dir)
    home = out_dir / "bench" / "out" / "quality-workspace"
    name = f"bench-quality-{settings['images']}"
    _dataset(home, name, settings["images"])
    cache = Workspace(home).prepared_cache(name)
    evaluator = Evaluator(cache, settings["eval_images"], seed=0)
    baseline = evaluator.baseline()
    rows = evaluator.split.train_rows
    train_images = evaluator.reader.read(rows if rows is not None
                                         else np.arange(len(evaluator.reader)))
    peak = matmul_peak(1024 if quick else 4096)
    points = [settings["budget"] * f for f in ((0.5, 1.0) if quick else POINTS)]
    batch = settings.get("batch_size")

    results, contenders = {}, {}
    for label in chosen:
        print(f"== {label}", flush=True)
        contender = preset_contender(label, cache, rows, batch, seed) if label in PRESETS \
            else reference_contender(label, train_images, batch, seed)
        contenders[label] = contender
        results[label] = train_for(contender, points, evaluator)

    floor = baseline["swd_floor"]
    report.figure("swd_floor", floor, "SWD x1e3")
    report.figure("ms_ssim_real", baseline["ms_ssim_real"], "MS-SSIM")
    table = []
    for label, rows_ in results.items():
        c, last = contenders[label], rows_[-1]
        rate = last["images"] / last["seconds"]
        pct = 100 * rate * c.flops_per_image / 1e9 / peak
        report.figure(f"{label}_img_per_s", rate, "img/s")
        report.figure(f"{label}_pct_of_peak", pct, "%")
        for point, row in zip(points, rows_, strict=True):
            report.figure(f"{label}_swd_at_{point:g}s", row["swd"], "SWD x1e3")
            report.figure(f"{label}_ms_ssim_at_{point:g}s", row["ms_ssim"], "MS-SSIM")
        report.figure(f"{label}_ms_ssim_final", last["ms_ssim"], "MS-SSIM")
        table.append(f"| {label} | {c.kind} | {c.batch_size} | {rate:.0f} | {pct:.0f}% | "
                     + " | ".join(f"{r['swd']:.1f} / {r['ms_ssim']:.2f}" for r in rows_)
                     + f" | {last['ms_ssim']:.3f} |")
    ratios = {ref: [a["swd"] / b["swd"] for a, b in zip(results[DEFAULT_PRESET], results[ref],
                                                         strict=True)]
              for ref in references}
    best = min(presets, key=lambda p: results[p][-1]["swd"])
    for ref, values in ratios.items():
        report.figure(f"{DEFAULT_PRESET}_vs_{ref}_swd_ratio_final", values[-1], "ratio")
        report.figure(f"{best}_vs_{ref}_swd_ratio_final_best_preset",
                      results[best][-1]["swd"] / results[ref][-1]["swd"], "ratio")
    chart = _chart(results, points, floor, out_dir)

    goal = all(values[-1] <= (0.8 if ref == "radford" else 1.0) for ref, values in ratios.items())
    report.lines += [
        f"Each contender trained for **{settings['budget']:g} s** (training seed {seed}; "
        f"scoring paused the clock) on {settings['images']:,} synthetic portraits, "
        f"{len(train_images):,} of them trained on; scored on "
        f"{settings['eval_images']} generated vs {evaluator.split.size} held-out real images"
        f" ({'held out of training' if evaluator.split.held_out else 'seen in training'}). "
        f"float32 matmul peak in this run: {peak:.0f} GFLOP/s. "
        f"Real-vs-real floor: SWD **{floor:.1f}**; real MS-SSIM {baseline['ms_ssim_real']:.3f}.",
        "",
        "| contender | kind | batch | images/s | % of matmul peak | "
        + " | ".join(f"SWD / MS-SSIM @ {p:g} s" for p in points) + " | MS-SSIM at the end |",
        "|---|---|---:|---:|---:|" + "---:|" * len(points) + "---:|",
        *table,
        "",
        f"Default preset (`{DEFAULT_PRESET}`) over the references, SWD at equal time: "
        + "; ".join(f"vs {ref}: " + ", ".join(f"{v:.2f}" for v in values)
                    + f" (at {points[-1]:g} s: **{values[-1]:.2f}**)"
                    for ref, values in ratios.items()) + ".",
        f"Best preset at the end: `{best}`, SWD {results[best][-1]['swd']:.1f} = "
        + ", ".join(f"{results[best][-1]['swd'] / results[ref][-1]['swd']:.2f} of {ref}"
                    for ref in references) + ".",
        f"Goal (default preset <= 0.8 x Radford and below keras-io at the end): "
        f"**{'met' if goal else 'not met'}**.",
        "",
        f"![SWD vs training seconds]({chart})",
    ]
    report.write()
    return report
