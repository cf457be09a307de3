"""Time to quality: every preset and both references train for the same wall time.

All contenders train on the same prepared dataset (the reference sample held out): the
built-in synthetic portraits (scenarios data10k and small), or with `--dataset NAME` any
prepared dataset of the workspace ($DCGAN_HOME), optionally a fixed random subset of
`--train-images N` of its training rows. A contender is a preset or a reference, or a preset
with settings changed: `[label=]preset:field=value,field=value` (flat config field names, as
the CLI's), e.g. `tuned=studio:d_mbstd=4,g_lr=1e-4`.
for `budget` seconds of training time each, one after the other on this machine. At fixed
time points the clock is paused and the generator is scored against the held-out sample
with dcgan.quality.metrics (SWD on Laplacian pyramids, MS-SSIM diversity, same latents, same seed).
The first iteration of each contender (n_critic of them for wgan-gp, whose step has a critic-only
variant) traces its step and is not timed. Throughput is the
images trained per second of that clock, and % of matmul peak uses each contender's own
FLOPs per image (see bench/train_bench.py and bench/references/).

Output: a table and a chart (docs/images/time_to_quality.png, drawn with Plotly and
rendered by headless Chromium when one is installed; the Plotly HTML otherwise).
"""

from __future__ import annotations

import importlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import ROOT, Report
from dcgan.config import DEFAULT_PRESET
from dcgan.testing import chromium_available, launch_chromium

PRESETS = ("studio", "dcgan", "ml241", "wgan-gp", "demo")
REFERENCES = {"keras-io": "bench.references.keras_io_faces",
              "radford": "bench.references.radford"}
DEFAULT_CONTENDERS = ("studio", "demo", "radford")  # --contenders adds the others
FULL = {"budget": 300.0, "images": 10_000, "eval_images": 512}
QUICK = {"budget": 2.0, "images": 300, "eval_images": 8, "batch_size": 8}
QUICK_SMALL = 16  # training images of the small scenario in quick mode
POINTS = (0.1, 0.25, 0.5, 0.75, 1.0)  # fractions of the budget at which quality is scored
IMAGE_POINTS = (10_000, 25_000, 50_000, 100_000, 200_000, 400_000)  # equal-images scores
QUICK_IMAGE_POINTS = (16, 32)
SCENARIOS = {
    "data10k": {"train_images": None, "section": "quality", "chart": "time_to_quality",
                "title": "Time to quality, 10,000 portraits (lower is better)",
                "about": "the built-in synthetic portraits, all but the scoring sample."},
    "small": {"train_images": 100, "section": "quality-small",
              "chart": "time_to_quality_small",
              "title": "Time to quality, 100 training portraits (lower is better)",
              "about": "100 training portraits, the size of a user's own photo set, where a "
                       "discriminator memorises; the scoring sample is the same as above."},
}


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


def parse_contender(spec: str) -> tuple[str, str, dict[str, str]]:
    """"[label=]base[:field=value,...]" -> (label, base, overrides); the label defaults to
    the whole spec. A value may itself be a list (augment_policy=color,translation: items
    without "=" continue the value before). Overrides are for presets only; values stay
    strings (the config coerces)."""
    head, _, settings = spec.partition(":")
    label, named, base = head.partition("=")
    if not named:
        label, base = spec, head
    if base not in PRESETS and base not in REFERENCES:
        raise ValueError(f"unknown contenders: {base}")
    overrides, key = {}, None
    for item in filter(None, settings.split(",")):
        name, eq, value = item.partition("=")
        if eq and name:
            key = name.replace("-", "_")
            overrides[key] = value
        elif key is not None:  # a list value goes on: augment_policy=color,translation
            overrides[key] += f",{item}"
        else:
            raise ValueError(f"contender {spec!r}: {item!r} is not field=value")
    if overrides and base in REFERENCES:
        raise ValueError(f"contender {spec!r}: a reference takes no settings")
    return label, base, overrides


def preset_contender(name: str, cache: Path, rows: np.ndarray | None,
                     batch_size: int | None, seed: int = 0,
                     overrides: dict | None = None) -> Contender:
    """A preset (with `overrides`, flat field names) trained by the project's own step."""
    from bench.train_bench import step_flops
    from dcgan.config import preset
    from dcgan.train.models import conv_flops
    from dcgan.train.pipeline import input_spec, make_dataset
    from dcgan.train.step import GanTrainer, setup_device

    config = preset(name).with_overrides(seed=seed, **(overrides or {}))
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


def train_for(contender: Contender, points: list[float], evaluator,
              image_points: tuple[int, ...] = ()) -> dict[str, list[dict]]:
    """Train until each time point (seconds of training), scoring the generator at each.

    Returns {"time": one record per time point, "images": one per image count in
    `image_points` reached within the last time point}; a record holds seconds, images,
    swd, ms_ssim and color_dist.
    """
    for _ in range(contender.warmup):  # traces the step (both variants with n_critic > 1)
        contender.step()
    trained, images = 0.0, 0
    out: dict[str, list[dict]] = {"time": [], "images": []}
    pending_images = sorted(image_points)

    def score(kind: str) -> None:
        record = evaluator(contender.sample, contender.latent_dim)
        out[kind].append({"seconds": trained, "images": images, "swd": record["swd"],
                          "ms_ssim": record["ms_ssim"], "color_dist": record["color_dist"]})
        print(f"  {contender.name} {trained:6.1f} s {images:7d} img  SWD {record['swd']:7.1f}"
              f"  colour {record['color_dist']:5.1f}  MS-SSIM {record['ms_ssim']:.3f}"
              f"  ({'equal images' if kind == 'images' else 'equal time'})", flush=True)

    for point in points:
        while trained < point:
            start = time.perf_counter()
            contender.step()
            trained += time.perf_counter() - start
            images += contender.batch_size
            if pending_images and images >= pending_images[0]:
                pending_images.pop(0)
                score("images")
        score("time")
    return out


def _chart(results: dict, floor: float, out_dir: Path, stem: str, title: str) -> str:
    """Write the SWD-vs-seconds chart docs/images/<stem>.png; returns its relative path."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, scored in results.items():
        rows = scored["time"]
        fig.add_trace(go.Scatter(x=[r["seconds"] for r in rows], y=[r["swd"] for r in rows],
                                 mode="lines+markers", name=name))
    seconds = [r["seconds"] for scored in results.values() for r in scored["time"]]
    fig.add_trace(go.Scatter(x=[0, max(seconds)], y=[floor, floor], mode="lines",
                             name="real vs real floor",
                             line={"dash": "dash", "color": "grey"}))
    fig.update_layout(title=title, width=900, height=500,
                      xaxis_title="training seconds (same machine, one after another)",
                      yaxis_title="SWD x1e3 (mean of 64/32/16 px levels)", yaxis_type="log",
                      template="plotly_white", margin={"l": 70, "r": 20, "t": 60, "b": 60})
    folder = out_dir / "docs" / "images"
    folder.mkdir(parents=True, exist_ok=True)
    html = folder / f"{stem}.html"
    fig.write_html(html, include_plotlyjs=True, full_html=True)
    png = folder / f"{stem}.png"
    if not chromium_available():
        return str(html.relative_to(out_dir))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 920, "height": 520})
        page.goto(html.as_uri())
        page.wait_for_selector(".main-svg")
        page.locator(".plotly").first.screenshot(path=str(png))
        browser.close()
    html.unlink()  # the PNG is what BENCHMARKS.md shows; the HTML is 4 MB of plotly.js
    return str(png.relative_to(out_dir))


def _stem(label: str) -> str:
    """A contender's label as a file name part."""
    return re.sub(r"[^\w.-]+", "_", label)


def _memorisation(fake: np.ndarray, train: np.ndarray, held_out: np.ndarray) -> dict:
    """Median RMS distance (grey levels) of samples and of held-out real images to the
    nearest training image: samples much nearer than held-out real images are copies."""
    from dcgan.quality.nearest import nearest_distances

    return {"nearest_fake": float(np.median(nearest_distances(fake, train))),
            "nearest_real": float(np.median(nearest_distances(held_out, train)))}


def _cell(row: dict | None) -> str:
    if row is None:
        return "—"
    return f"{row['swd']:.1f} / {row['color_dist']:.1f} / {row['ms_ssim']:.2f}"


def run(quick: bool = False, out_dir: Path = ROOT, budget: float | None = None,
        seed: int = 0, contenders: list[str] | None = None,
        scenarios: list[str] | None = None, dataset: str | None = None,
        train_images: int | None = None) -> Report:
    """Train each contender for `budget` s per scenario; `seed` seeds their training.

    `contenders` picks a subset (specs as parse_contender reads them; the default preset
    must be among them); None runs the default set. `scenarios` picks from SCENARIOS (None:
    both); with `dataset` the one scenario is that prepared dataset of the workspace
    ($DCGAN_HOME), `train_images` a fixed random subset of its training rows. Returns the
    last scenario's report.
    """
    parsed = [parse_contender(spec) for spec in contenders or DEFAULT_CONTENDERS]
    if (DEFAULT_PRESET, DEFAULT_PRESET, {}) not in parsed:
        raise ValueError(f"the contenders must include the default preset {DEFAULT_PRESET}")
    from bench.train_bench import _dataset, matmul_peak
    from dcgan.quality.evaluator import Evaluator
    from dcgan.train.step import configure_threads
    from dcgan.workspace import Workspace

    configure_threads()
    settings = {**(QUICK if quick else FULL), **({"budget": budget} if budget else {})}
    if dataset:
        from dcgan.data.cache import cache_settings

        cache = Workspace.from_env().prepared_cache(dataset)  # DatasetError if not prepared
        crop = (cache_settings(cache.parent) or {}).get("crop", "center")
        section = f"quality-{dataset}" + (f"-{train_images}" if train_images else "")
        runs = {section: {
            "train_images": train_images, "section": section,
            "chart": "time_to_quality_" + section.removeprefix("quality-"),
            "title": f"Time to quality, {dataset}"
                     + (f", {train_images:,} training images" if train_images else "")
                     + " (lower is better)",
            "about": f"the prepared dataset `{dataset}` ({crop} crop)"
                     + (f", a fixed random subset of {train_images:,} of its training images"
                        if train_images else ", all but the scoring sample") + "."}}
    else:
        home = out_dir / "bench" / "out" / "quality-workspace"
        name = f"bench-quality-{settings['images']}"
        _dataset(home, name, settings["images"])
        cache = Workspace(home).prepared_cache(name)
        runs = {key: SCENARIOS[key] for key in scenarios or SCENARIOS}
    evaluator = Evaluator(cache, settings["eval_images"], seed=0)
    peak = matmul_peak(1024 if quick else 4096)
    report = None
    for scenario, spec in runs.items():
        report = _scenario(scenario, spec, parsed, settings, cache, evaluator, peak, seed,
                           quick, out_dir)
    return report


def _scenario(scenario: str, spec: dict, parsed: list[tuple[str, str, dict]], settings: dict,
              cache: Path, evaluator, peak: float, seed: int, quick: bool,
              out_dir: Path) -> Report:
    """One scenario: every contender trained and scored, its section of BENCHMARKS.md."""
    from dcgan.data.images import image_grid

    chosen = [label for label, _, _ in parsed]
    report = Report(spec["section"], out_dir)
    baseline = evaluator.baseline()
    rows = evaluator.split.train_rows
    rows = np.arange(len(evaluator.reader)) if rows is None else rows
    limit = spec["train_images"]
    if limit and quick and scenario in SCENARIOS:  # the synthetic small scenario, shrunk
        limit = QUICK_SMALL
    if limit:  # a fixed random subset of the training rows; the scoring sample is unchanged
        rows = np.sort(np.random.default_rng([seed, 0x5A11]).permutation(rows)[:limit])
    train_images = evaluator.reader.read(rows)
    points = [settings["budget"] * f for f in ((0.5, 1.0) if quick else POINTS)]
    image_points = QUICK_IMAGE_POINTS if quick else IMAGE_POINTS
    batch = settings.get("batch_size")
    folder = out_dir / "docs" / "images" / "quality"
    folder.mkdir(parents=True, exist_ok=True)

    results, contenders, memo = {}, {}, {}
    for label, base, overrides in parsed:
        print(f"== {scenario}: {label}", flush=True)
        contender = preset_contender(base, cache, rows, batch, seed, overrides) \
            if base in PRESETS else reference_contender(base, train_images, batch, seed)
        contender.name = label
        contenders[label] = contender
        results[label] = train_for(contender, points, evaluator, image_points)
        z = evaluator.latents(contender.latent_dim)
        fake = np.concatenate([contender.sample(z[i:i + 256]) for i in range(0, len(z), 256)])
        image_grid(fake[:32], columns=8).save(folder / f"{scenario}-{_stem(label)}.png")
        memo[label] = _memorisation(fake, train_images, evaluator.reference)

    floor, color_floor = baseline["swd_floor"], baseline["color_dist_floor"]
    real_ssim = baseline["ms_ssim_real"]
    report.figure("swd_floor", floor, "SWD x1e3")
    report.figure("color_dist_floor", color_floor, "grey levels")
    report.figure("ms_ssim_real", real_ssim, "MS-SSIM")
    counts = sorted({r["images"] for scored in results.values() for r in scored["images"]})
    time_table, image_table = [], []
    for label, scored in results.items():
        c, last = contenders[label], scored["time"][-1]
        rate = last["images"] / last["seconds"]
        pct = 100 * rate * c.flops_per_image / 1e9 / peak
        report.figure(f"{label}_img_per_s", rate, "img/s")
        report.figure(f"{label}_pct_of_peak", pct, "%")
        for point, row in zip(points, scored["time"], strict=True):
            report.figure(f"{label}_swd_at_{point:g}s", row["swd"], "SWD x1e3")
            report.figure(f"{label}_ms_ssim_at_{point:g}s", row["ms_ssim"], "MS-SSIM")
            report.figure(f"{label}_color_at_{point:g}s", row["color_dist"], "grey levels")
        by_count = {r["images"]: r for r in scored["images"]}
        for count, row in by_count.items():
            report.figure(f"{label}_swd_at_{count}img", row["swd"], "SWD x1e3")
        report.figure(f"{label}_ms_ssim_final", last["ms_ssim"], "MS-SSIM")
        report.figure(f"{label}_nearest_fake", memo[label]["nearest_fake"], "grey levels")
        time_table.append(f"| {label} | {c.kind} | {c.batch_size} | {rate:.0f} | {pct:.0f}% | "
                          + " | ".join(_cell(r) for r in scored["time"])
                          + f" | {memo[label]['nearest_fake']:.1f} |")
        image_table.append(f"| {label} | " + " | ".join(_cell(by_count.get(n)) for n in counts)
                           + " |")
    nearest_real = next(iter(memo.values()))["nearest_real"]
    report.figure("nearest_real", nearest_real, "grey levels")
    ratios = {other: results[DEFAULT_PRESET]["time"][-1]["swd"] / results[other]["time"][-1]["swd"]
              for other in chosen if other != DEFAULT_PRESET}
    for other, ratio in ratios.items():
        report.figure(f"{DEFAULT_PRESET}_vs_{other}_swd_ratio_final", ratio, "ratio")
    chart = _chart(results, floor, out_dir, spec["chart"], spec["title"])
    default = results[DEFAULT_PRESET]["time"][-1]
    goals = _goals(scenario, default, baseline, ratios, memo[DEFAULT_PRESET])
    what = (f"{len(train_images):,} training images (a fixed random subset)" if limit
            else f"{len(train_images):,} training images")
    report.lines += [
        f"Scenario **{scenario}**: {spec['about']} Each contender trained for "
        f"**{settings['budget']:g} s** (training seed {seed}; scoring paused the clock) on "
        f"{what}; scored on {settings['eval_images']} generated vs {evaluator.split.size} "
        f"held-out real images. float32 matmul peak in this run: {peak:.0f} GFLOP/s. "
        f"Real-vs-real floors: SWD **{floor:.1f}**, colour **{color_floor:.1f}** grey levels; "
        f"real MS-SSIM {real_ssim:.3f}.",
        *_changed(parsed),
        "",
        "Cells: SWD x1e3 / colour distance / MS-SSIM. Equal time:",
        "",
        "| contender | kind | batch | images/s | % of matmul peak | "
        + " | ".join(f"@ {p:g} s" for p in points) + " | nearest train image |",
        "|---|---|---:|---:|---:|" + "---:|" * len(points) + "---:|",
        *time_table,
        "",
        *equal_images_table("contender", counts, image_table),
        "",
        f"Memorisation: median RMS distance (grey levels) of the 512 samples to their nearest "
        f"training image (last column) vs held-out real images' **{nearest_real:.1f}**.",
        *([f"Default preset (`{DEFAULT_PRESET}`) over the others, SWD at the end: "
           + ", ".join(f"{other} {ratio:.2f}" for other, ratio in ratios.items()) + "."]
          if ratios else []),
        *goals,
        "",
        f"![SWD vs training seconds]({chart})",
        "",
        "Samples at the end (first 32 of the scoring latents): "
        + ", ".join(f"[{label}](docs/images/quality/{scenario}-{_stem(label)}.png)"
                    for label in chosen)
        + ".",
    ]
    report.write()
    return report


def _changed(parsed: list[tuple[str, str, dict]]) -> list[str]:
    """A line naming what each contender with changed settings changes, if any has."""
    said = [f"`{label}` = `{base}` with " + ", ".join(f"{k}={v}" for k, v in overrides.items())
            for label, base, overrides in parsed if overrides]
    return ["", "Changed settings: " + "; ".join(said) + "."] if said else []


def equal_images_table(label: str, counts: list[int], rows: list[str]) -> list[str]:
    """The markdown of the equal-images table: one column per image count."""
    return ["Equal images trained (— = not reached within the budget):", "",
            f"| {label} | " + " | ".join(f"@ {n:,} img" for n in counts) + " |",
            "|---|" + "---:|" * len(counts), *rows]


def _goals(scenario: str, default: dict, baseline: dict, ratios: dict,
           memo: dict) -> list[str]:
    """The issues' goals for the default preset, each with its figure and met / not met."""
    floor, real_ssim = baseline["swd_floor"], baseline["ms_ssim_real"]
    synthetic = scenario in SCENARIOS
    near = 0.05 if synthetic else 0.03  # real faces: #29's goal
    checks = [(f"MS-SSIM within {near} of real ({default['ms_ssim']:.3f} vs {real_ssim:.3f})",
               abs(default["ms_ssim"] - real_ssim) <= near)]
    if scenario == "data10k":
        checks.insert(0, (f"SWD <= 3x the floor ({default['swd'] / floor:.2f}x)",
                          default["swd"] <= 3 * floor))
        if "radford" in ratios:
            checks.append((f"<= 0.5x Radford ({ratios['radford']:.2f})", ratios["radford"] <= 0.5))
    elif synthetic:
        checks.append((f"samples no nearer to training images than held-out real images "
                       f"({memo['nearest_fake']:.1f} vs {memo['nearest_real']:.1f})",
                       memo["nearest_fake"] >= memo["nearest_real"]))
    else:
        colour = default["color_dist"] / baseline["color_dist_floor"]
        checks += [(f"colour distance <= 2x its floor ({colour:.2f}x)", colour <= 2),
                   (f"samples no nearer their nearest training image than held-out real "
                    f"images, >= 0.95x ({memo['nearest_fake'] / memo['nearest_real']:.2f}x)",
                    memo["nearest_fake"] >= 0.95 * memo["nearest_real"])]
    if "demo" in ratios:
        checks.append((f"<= 0.6x demo ({ratios['demo']:.2f})", ratios["demo"] <= 0.6))
    return ["Goals for the default preset: " + "; ".join(
        f"{text}: **{'met' if ok else 'not met'}**" for text, ok in checks) + "."]
