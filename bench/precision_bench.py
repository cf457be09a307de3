"""float32 vs bfloat16 at equal time: does bf16 on this CPU buy quality or only speed?

The default preset trains twice on the same prepared synthetic portraits (the scoring sample
held out), once with `--mixed-precision off` and once with `bf16`, for the same training
seconds each, one after the other, scored at the same time points and image counts by the
same Evaluator as the quality benchmark. Both matmul peaks are measured in the same run.
This is the evidence behind `--mixed-precision auto` choosing bf16 on CPUs with
AVX512_BF16 or AMX-BF16 (dcgan.train.step.cpu_has_bf16).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.common import ROOT, Report
from bench.quality_bench import (
    IMAGE_POINTS,
    POINTS,
    equal_images_table,
    preset_contender,
    train_for,
)
from dcgan.config import DEFAULT_PRESET

FULL = {"budget": 600.0, "images": 10_000, "eval_images": 512}
QUICK = {"budget": 2.0, "images": 300, "eval_images": 8, "batch_size": 8}
POLICIES = {"float32": "off", "bf16": "bf16"}


def run(quick: bool = False, out_dir: Path = ROOT, budget: float | None = None) -> Report:
    from bench.train_bench import _dataset, matmul_peak
    from dcgan.data.images import image_grid
    from dcgan.quality.evaluator import Evaluator
    from dcgan.train.step import configure_threads, cpu_has_bf16
    from dcgan.workspace import Workspace

    configure_threads()
    settings = {**(QUICK if quick else FULL), **({"budget": budget} if budget else {})}
    report = Report("precision", out_dir)
    home = out_dir / "bench" / "out" / "quality-workspace"
    name = f"bench-quality-{settings['images']}"
    _dataset(home, name, settings["images"])
    cache = Workspace(home).prepared_cache(name)
    evaluator = Evaluator(cache, settings["eval_images"], seed=0)
    baseline = evaluator.baseline()
    size = 1024 if quick else 4096
    peaks = {label: matmul_peak(size, dtype="bfloat16" if label == "bf16" else "float32")
             for label in POLICIES}
    for label, peak in peaks.items():
        report.figure(f"matmul_peak_{label}_gflops", peak, "GFLOP/s")
    points = [settings["budget"] * f for f in ((0.5, 1.0) if quick else POINTS)]
    image_points = (16, 32) if quick else IMAGE_POINTS
    folder = out_dir / "docs" / "images" / "quality"
    folder.mkdir(parents=True, exist_ok=True)
    results, rates = {}, {}
    for label, policy in POLICIES.items():
        print(f"== precision: {DEFAULT_PRESET} {label}", flush=True)
        contender = preset_contender(DEFAULT_PRESET, cache, evaluator.split.train_rows,
                                     settings.get("batch_size"), 0,
                                     {"mixed_precision": policy})
        results[label] = train_for(contender, points, evaluator, image_points)
        last = results[label]["time"][-1]
        rates[label] = report.figure(f"{label}_img_per_s", last["images"] / last["seconds"],
                                     "img/s")
        for point, row in zip(points, results[label]["time"], strict=True):
            report.figure(f"{label}_swd_at_{point:g}s", row["swd"], "SWD x1e3")
            report.figure(f"{label}_ms_ssim_at_{point:g}s", row["ms_ssim"], "MS-SSIM")
        z = evaluator.latents(contender.latent_dim)
        fake = np.concatenate([contender.sample(z[i:i + 256]) for i in range(0, len(z), 256)])
        image_grid(fake[:32], columns=8).save(folder / f"precision-{label}.png")

    floor = baseline["swd_floor"]
    speed = report.figure("bf16_over_float32_img_per_s", rates["bf16"] / rates["float32"],
                          "ratio")
    peak_ratio = report.figure("bf16_over_float32_matmul_peak",
                               peaks["bf16"] / peaks["float32"], "ratio")
    final = {label: scored["time"][-1] for label, scored in results.items()}
    swd_ratio = report.figure("bf16_over_float32_swd_final",
                              final["bf16"]["swd"] / final["float32"]["swd"], "ratio")
    counts = sorted({r["images"] for scored in results.values() for r in scored["images"]})

    def cell(row):
        return "—" if row is None else f"{row['swd']:.1f} / {row['ms_ssim']:.3f}"

    time_rows = [f"| {label} | {rates[label]:.0f} | "
                 + " | ".join(cell(r) for r in scored["time"]) + " |"
                 for label, scored in results.items()]
    image_rows = [f"| {label} | " + " | ".join(
        cell({r["images"]: r for r in scored["images"]}.get(n)) for n in counts) + " |"
        for label, scored in results.items()]
    report.lines += [
        f"`{DEFAULT_PRESET}` trained with float32 and with mixed bfloat16 for "
        f"**{settings['budget']:g} s** each (seed 0, scoring paused the clock), on "
        f"{settings['images']:,} synthetic portraits minus the {evaluator.split.size} held out; "
        f"scored on {settings['eval_images']} samples. CPU has bf16 instructions: "
        f"**{cpu_has_bf16()}**. Matmul peaks in this run: float32 {peaks['float32']:.0f}, "
        f"bfloat16 {peaks['bf16']:.0f} GFLOP/s (**{peak_ratio:.2f}x**). Real-vs-real SWD "
        f"floor {floor:.1f}; real MS-SSIM {baseline['ms_ssim_real']:.3f}.",
        "",
        "Cells: SWD x1e3 / MS-SSIM. Equal time:",
        "",
        "| policy | images/s | " + " | ".join(f"@ {p:g} s" for p in points) + " |",
        "|---|---:|" + "---:|" * len(points),
        *time_rows,
        "",
        *equal_images_table("policy", counts, image_rows),
        "",
        f"bf16 over float32: **{speed:.2f}x** the images/s; SWD at the end **{swd_ratio:.2f}x** "
        f"float32's (below 1 = better); MS-SSIM {final['bf16']['ms_ssim']:.3f} vs "
        f"{final['float32']['ms_ssim']:.3f}. Samples: "
        "[float32](docs/images/quality/precision-float32.png), "
        "[bf16](docs/images/quality/precision-bf16.png).",
    ]
    report.write()
    return report
