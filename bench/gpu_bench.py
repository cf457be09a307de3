"""Throughput by device option, ready for a CUDA machine: `python -m bench --only gpu`.

For each preset, train steps per second (as images/s) through the real loop
(`GanTrainer.train_steps` over the run's input source, calls cut at epoch ends) with one
option changed at a time from today's path (float32, XLA off, one step per call, images
streamed with pread), and with every option on `auto` as a run starts by default. On a GPU
`auto` means mixed precision (bf16 on Ampere and later, fp16 before), XLA on, K from the
measured step time and images in memory; on a CPU, bf16 only where the CPU has bf16
instructions and XLA off. This project has no GPU: BENCHMARKS.md shows this benchmark run on
the CPU, which proves the command and every option work, not GPU figures.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import ROOT, Report

OPTIONS = {  # label: overrides of today's path
    "today": {},
    "bf16": {"mixed_precision": "bf16"},
    "XLA": {"jit_compile": "on"},
    "auto K": {"steps_per_call": 0},
    "in memory": {"resident_data": "on"},
    "all auto": {"mixed_precision": "auto", "jit_compile": "auto", "steps_per_call": 0,
                 "resident_data": "auto"},
}
TODAY = {"mixed_precision": "off", "jit_compile": "off", "steps_per_call": 1,
         "resident_data": "off"}


def images_per_s(name: str, cache: Path, overrides: dict, quick: bool) -> tuple[float, str]:
    """img/s of preset `name` with `overrides`, and the setup it ran on."""
    import numpy as np

    from bench.train_bench import steps_per_second
    from dcgan.config import preset
    from dcgan.data.cache import CacheReader
    from dcgan.train.pipeline import (
        CacheRows,
        ResidentImages,
        input_spec,
        make_dataset,
        resident_fits,
    )
    from dcgan.train.step import STREAMED, GanTrainer, setup_device

    config = preset(name).with_overrides(**{**TODAY, **overrides})
    if quick:
        config = config.with_overrides(g_filters=8, d_filters=8, batch_size=8)
    t = config.train
    device = setup_device(config)
    trainer = GanTrainer(config, device)
    spec, reader = input_spec(config), CacheReader(cache)
    per_epoch = len(reader) // t.batch_size
    mode = config.data.resident_data
    if mode == "on" or (mode == "auto" and resident_fits(len(reader) * reader.row_bytes)):
        source = ResidentImages(CacheRows(reader, np.arange(len(reader))), spec)
        args_fn, where = source.args, "in memory"
    else:
        batches = iter(device.strategy.experimental_distribute_dataset(
            make_dataset(cache, spec)))
        source, args_fn, where = STREAMED, (lambda epoch, batch: batches), "streamed"
    rate = steps_per_second(trainer, source, args_fn, per_epoch, t.steps_per_call,
                            0.5 if quick else 5.0) * t.batch_size
    return rate, f"{device.description}; {where}"


def run(quick: bool = False, out_dir: Path = ROOT) -> Report:
    import tensorflow as tf

    from bench.train_bench import PRESET_NAMES, _dataset
    from dcgan.train.step import configure_threads
    from dcgan.workspace import Workspace

    configure_threads()
    report = Report("gpu", out_dir)
    home = out_dir / "bench" / "out" / "train-workspace"
    _dataset(home, "bench-e2e", 300 if quick else 4000)
    cache = Workspace(home).prepared_cache("bench-e2e")
    gpus = tf.config.list_physical_devices("GPU")
    rows, setups = [], {}
    start = time.perf_counter()
    for name in PRESET_NAMES[:1] if quick else PRESET_NAMES:
        rates = {}
        for label, overrides in OPTIONS.items():
            rates[label], setups[name, label] = images_per_s(name, cache, overrides, quick)
            key = label.replace(" ", "_").lower()
            report.figure(f"{name}_{key}_img_per_s", rates[label], "img/s")
        rows.append(f"| `{name}` | " + " | ".join(
            f"{rates[label]:.0f} ({rates[label] / rates['today']:.2f}x)" for label in OPTIONS)
            + " |")
    report.lines += [
        f"Device: **{'GPU: ' + ', '.join(g.name for g in gpus) if gpus else 'no GPU (CPU)'}**"
        f"; {'quick sizes (8 filters, batch 8); ' if quick else ''}"
        f"{time.perf_counter() - start:.0f} s in all. Images/s through the training loop's "
        "compiled calls (ratio to today's path in brackets):",
        "",
        "| preset | " + " | ".join(OPTIONS) + " |",
        "|---|" + "---:|" * len(OPTIONS),
        *rows,
        "",
        f"\"all auto\" ran as: {setups[next(iter(PRESET_NAMES)), 'all auto']}.",
    ]
    if not gpus:
        report.lines += ["", "No GPU here: these are CPU figures (XLA is expected to be slower "
                             "on a CPU); run `python -m bench --only gpu` on a CUDA machine "
                             "for the GPU ones."]
    report.write()
    return report
