"""Command-line front end: `python -m dcgan <command> --help` shows each command's options.

Errors meant for people (dcgan.errors.DcganError) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence

from dcgan.config import DEFAULT_PRESET
from dcgan.data.builtin import BUILTIN_COUNT, BUILTIN_DATASET, ensure_builtin_dataset
from dcgan.data.faces import DEFAULT_ZOOM, MIN_CONFIDENCE, MIN_FACE
from dcgan.errors import DcganError
from dcgan.system import SPEED_FILE, measure_speed
from dcgan.workspace import Workspace


def _progress(desc: str, unit: str = "img") -> tuple[Callable[[int, int], None], Callable]:
    """A progress_fn(done, total) and a function to close it: a tqdm bar on a terminal; a
    plain line every LINE_EVERY_S seconds (and at the end) when stderr is a file or a pipe,
    so a log of 8,000 files holds a few lines, not 8,000 redrawn bars."""
    if not sys.stderr.isatty():
        return _line_progress(desc, unit)
    from tqdm import tqdm

    bars = []  # created on the first update, so an early error prints no empty bar

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(desc=desc, unit=unit, total=total, file=sys.stderr,
                             dynamic_ncols=True))
        bars[0].total = total
        bars[0].n = done
        bars[0].refresh()

    def close() -> None:
        for bar in bars:
            bar.close()

    return update, close


LINE_EVERY_S = 5.0


def _line_progress(desc: str, unit: str) -> tuple[Callable[[int, int], None], Callable]:
    start = time.monotonic()
    state = {"last": start, "done": 0, "total": 0, "printed": -1}

    def line() -> None:
        done, total = state["done"], state["total"]
        rate = done / max(time.monotonic() - start, 1e-9)
        print(f"{desc}: {done:,}/{total:,} {unit} ({100 * done / max(total, 1):.0f}%, "
              f"{rate:.1f} {unit}/s)", file=sys.stderr, flush=True)
        state["printed"] = done

    def update(done: int, total: int) -> None:
        state["done"], state["total"] = done, total
        now = time.monotonic()
        if now - state["last"] >= LINE_EVERY_S:
            state["last"] = now
            line()

    def close() -> None:
        if state["total"] and state["printed"] != state["done"]:
            line()

    return update, close


def cmd_synth(args: argparse.Namespace, ws: Workspace) -> int:
    from dcgan.data.synthetic import generate_dataset

    folder = ws.dataset_dir(args.name)
    if folder.exists() and any(folder.iterdir()):
        raise DcganError(f"dataset {args.name!r} already exists: choose another --name")
    update, close = _progress(f"synth {args.name}")
    try:
        generate_dataset(folder, args.count, args.seed, size=args.size, workers=args.workers,
                         progress_fn=update)
    finally:
        close()
    print(f"{args.count} synthetic portraits (seed {args.seed}) -> {folder}")
    return 0


def cmd_import(args: argparse.Namespace, ws: Workspace) -> int:
    from dcgan.data.ingest import import_source

    update, close = _progress(f"import {args.name}", unit="file")
    try:
        report = import_source(ws, args.source, args.name,
                               keep_duplicates=args.keep_duplicates, progress_fn=update)
    finally:
        close()
    print(f"{args.name}: {report.summary()} -> {ws.dataset_dir(args.name)}")
    for item in report.skipped[: args.show_skipped]:
        print(f"  skipped {item['file']}: {item['reason']} {item['detail']}".rstrip())
    return 0


def cmd_prepare(args: argparse.Namespace, ws: Workspace) -> int:
    from dcgan.data.faces import FaceCrop
    from dcgan.data.prepare import prepare_dataset

    if not 0.25 <= args.face_zoom <= 4:
        raise DcganError(f"--face-zoom: {args.face_zoom:g} is out of range; allowed: 0.25 to 4")
    face = FaceCrop(args.faces, args.face_zoom, args.min_face, args.min_confidence)
    update, close = _progress(f"prepare {args.name}")
    try:
        result = prepare_dataset(ws, args.name, size=args.size, crop=args.crop, face=face,
                                 workers=args.workers, progress_fn=update)
    finally:
        close()
    crop = "faces" if result.crop == "face" else "centre crops"
    if result.up_to_date:
        print(f"{args.name}: up to date ({result.count} images, {crop}) in {result.cache_dir}")
    else:
        print(f"{args.name}: {result.count} images, {crop} ({result.processed} files "
              f"processed, {result.reused} reused, {result.skipped} skipped, "
              f"{result.duplicates} duplicates) -> {result.cache_dir}")
    return 0


def cmd_datasets(args: argparse.Namespace, ws: Workspace) -> int:
    infos = ws.list_datasets()
    if not infos:
        print(f"no datasets in {ws.datasets_dir}")
    for info in infos:
        prepared = "not prepared" if info.prepared_images is None else \
            f"{info.prepared_images} prepared"
        print(f"{info.name}\t{info.source_files} files\t{prepared}\t"
              f"{info.bytes_on_disk / 1e6:.1f} MB")
    return 0


def cmd_bootstrap(args: argparse.Namespace, ws: Workspace) -> int:
    """Make sure the built-in dataset exists and is prepared (used by `make run`); with
    --address, first refuse to serve beyond localhost without sign-in (no app starts)."""
    if args.address is not None:
        from dcgan.runs.classroom import auth_configured_in, secrets_files, serve_mode

        mode = serve_mode(args.address, auth_configured_in(secrets_files()))
        print(f"serving on {args.address}: " + {
            "local": "this machine only, no sign-in",
            "class": "a class, with sign-in (README \"Serving a class\")",
            "trusted": "beyond this machine WITHOUT sign-in (DCGAN_TRUSTED_NETWORK=1)"}[mode])
    ws.ensure()
    result = ensure_builtin_dataset(ws, args.count, lambda: print(
        f"creating the built-in dataset {BUILTIN_DATASET} ({args.count} portraits)..."))
    print(f"workspace {ws.root}: {BUILTIN_DATASET} ready ({result.count} images)")
    speed = ws.root / SPEED_FILE
    if not args.skip_speed and not speed.is_file():
        from dcgan.runs.folder import write_json_atomic

        print("timing a few training steps of the default settings on this machine...")
        try:
            measured = measure_speed(DEFAULT_PRESET)
        except DcganError:
            print("  (could not time a step; the Train page can measure it later)")
        else:
            write_json_atomic(speed, measured)
            print(f"  {measured['images_per_s']:.0f} images/s with the {DEFAULT_PRESET} preset")
    return 0


def _overrides(args: argparse.Namespace) -> dict:
    from dcgan.config import field_names

    return {name: getattr(args, name) for name, _, _ in field_names()
            if getattr(args, name, None) is not None}


def _train_config(args: argparse.Namespace, ws: Workspace):
    """(config, run_dir) for --run, --resume or a new run from --preset + overrides."""
    from dcgan.config import Config, ConfigError, preset
    from dcgan.runs.folder import create_run, resolve_run

    overrides = _overrides(args)
    if args.run or args.resume:
        run_dir = resolve_run(ws, args.run or args.resume)
        config = Config.from_json((run_dir / "config.json").read_text())
        unknown = set(overrides) - {"epochs"}
        if unknown:
            raise ConfigError(f"a resumed run keeps its settings; only --epochs may change "
                              f"(got {', '.join(sorted(unknown))})")
        if overrides:
            config = config.with_overrides(**overrides).validate()
            (run_dir / "config.json").write_text(config.to_json())
        return config, run_dir
    from dcgan.data.prepare import cached_count

    config = preset(args.preset).with_overrides(**overrides)
    config.validate(dataset_size=cached_count(ws, config.data.dataset))
    return config, create_run(ws, config, args.run_name)


def cmd_train(args: argparse.Namespace, ws: Workspace) -> int:
    import signal

    from dcgan.runs.classroom import MINUTES_ENV, after_job
    from dcgan.runs.folder import update_status
    from dcgan.runs.jobs import hold_job_lock, stop_requested
    from dcgan.train.loop import run_training

    config, run_dir = _train_config(args, ws)
    signals: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop cleanly: checkpoint, then exit
        signal.signal(sig, lambda number, _frame: signals.append(number))
    # A served class's limit of minutes per run (set by its queue when it starts the job).
    minutes = float(os.environ.get(MINUTES_ENV) or 0)
    deadline = time.monotonic() + minutes * 60 if minutes else float("inf")
    with hold_job_lock(run_dir):
        print(f"run {run_dir}", flush=True)
        bar = None
        if not args.no_progress:
            from tqdm import tqdm

            total = config.train.epochs
            bar = tqdm(total=total, unit="epoch", file=sys.stderr, dynamic_ncols=True)

        def progress(info: dict) -> None:
            if bar is not None:
                bar.n = info["epoch"] + info["batch"] / info["steps_per_epoch"]
                bar.set_postfix(d_loss=f"{info['d_loss']:.3f}",
                                g_loss=f"{info.get('g_loss', float('nan')):.3f}",
                                refresh=False)
                bar.refresh()

        state = run_training(config, run_dir, progress,
                             lambda: bool(signals) or stop_requested(run_dir)
                             or time.monotonic() > deadline)
        if bar is not None:
            bar.close()
        if state == "stopped" and time.monotonic() > deadline:
            update_status(run_dir, note=f"stopped at the class's limit of {minutes:g} "
                                        "minutes per run (Resume queues it again)")
    (run_dir / "STOP").unlink(missing_ok=True)
    after_job(run_dir)  # in a served class: free the device for the next job in turn
    print(f"{run_dir.name}: {state}")
    if state == "diverged":
        from dcgan.runs.folder import read_status

        print(f"error: {read_status(run_dir).get('error')}", file=sys.stderr)
        return 3
    return 0


def cmd_generate(args: argparse.Namespace, ws: Workspace) -> int:
    from dcgan.explore.export import load_run_generator, save_grid
    from dcgan.explore.latent import parse_seeds
    from dcgan.runs.folder import resolve_run

    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as exc:
        raise DcganError(f"--seeds: {exc}; use e.g. 1-16 or 3,7,42") from None
    generator = load_run_generator(resolve_run(ws, args.run))
    path = save_grid(generator, seeds, args.out, columns=args.columns, scale=args.scale)
    print(f"{len(seeds)} portraits -> {path}")
    return 0


def cmd_estimate(args: argparse.Namespace, ws: Workspace) -> int:
    """Time a few train steps of a config on this machine; prints one JSON line."""
    import tensorflow as tf

    from dcgan.config import preset
    from dcgan.train.step import GanTrainer, configure_threads, setup_device

    configure_threads()
    config = preset(args.preset).with_overrides(**_overrides(args)).validate()
    device = setup_device(config)
    trainer = GanTrainer(config, device)
    lo, hi = config.value_range
    batch = tf.random.uniform([config.train.batch_size, 64, 64, 3], lo, hi)
    for step in range(2):
        trainer.train_step(batch, step)
    start = time.perf_counter()
    for step in range(args.steps):
        trainer.train_step(batch, 2 + step)
    seconds = (time.perf_counter() - start) / args.steps
    print(json.dumps({"device": device.description, "gpus": len(tf.config.list_physical_devices(
        "GPU")), "seconds_per_step": seconds,
        "images_per_s": config.train.batch_size / seconds}))
    return 0


def find_checkpoint(run_dir, ref: str):
    """A run's checkpoint by epoch number ("20") or file name ("ckpt-00020-000012345.npz")."""
    from dcgan.train.checkpoints import CKPT_RE, list_checkpoints

    found = list_checkpoints(run_dir)
    for path in found:
        if path.name == ref or (ref.isdigit() and int(CKPT_RE.match(path.name)[1]) == int(ref)):
            return path
    have = ", ".join(str(int(CKPT_RE.match(p.name)[1])) for p in found) or "none"
    raise DcganError(f"--checkpoint: run {run_dir.name} has no checkpoint {ref!r}; "
                     f"epochs with a checkpoint: {have}")


def cmd_evaluate(args: argparse.Namespace, ws: Workspace) -> int:
    """SWD and MS-SSIM of a run's generator vs its dataset; prints lines or one JSON object."""
    from dcgan.config import Config
    from dcgan.explore.export import load_run_generator
    from dcgan.quality.evaluator import Evaluator, eval_split
    from dcgan.quality.metrics import describe
    from dcgan.runs.folder import resolve_run

    if args.n < 4:
        raise DcganError("--n: at least 4 images are needed")
    run_dir = resolve_run(ws, args.run)
    config = Config.from_json((run_dir / "config.json").read_text())
    checkpoint = find_checkpoint(run_dir, args.checkpoint) if args.checkpoint else None
    generator = load_run_generator(run_dir, checkpoint)
    cache = ws.prepared_cache(config.data.dataset)
    seed = config.train.seed
    evaluator = Evaluator(cache, args.n, seed)
    record = evaluator(generator.images, generator.latent_dim)
    # The reference was kept out of training only if it lies inside training's held-out rows.
    trained = eval_split(len(evaluator.reader), config.train.eval_images, seed)
    record["held_out"] = bool(config.train.eval_every and trained.held_out
                              and evaluator.split.size <= trained.size)
    record["generator"] = generator.label
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"{generator.label}: {describe(record)}")
    print("SWD x1e3 by level: " + ", ".join(f"{k[4:]}px {record[k]:.1f}"
                                            for k in ("swd_64", "swd_32", "swd_16")))
    print(f"{record['eval_images']} generated vs {record['eval_images']} real images "
          f"({'held out of training' if record['held_out'] else 'seen in training'}), "
          f"{record['eval_seconds']:.1f} s")
    return 0


def _chosen_generator(args: argparse.Namespace, ws: Workspace):
    """(generator, run_dir, checkpoint) of --run [--checkpoint] or --demo (run_dir None)."""
    from dcgan.explore.export import load_demo_generator, load_run_generator
    from dcgan.runs.folder import resolve_run
    from dcgan.train.checkpoints import list_checkpoints

    if args.demo:
        return load_demo_generator(), None, None
    run_dir = resolve_run(ws, args.run)
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise DcganError(f"run {run_dir.name} has no checkpoint yet: train it first")
    checkpoint = find_checkpoint(run_dir, args.checkpoint) if args.checkpoint \
        else checkpoints[-1]
    return load_run_generator(run_dir, checkpoint), run_dir, checkpoint


def cmd_project(args: argparse.Namespace, ws: Workspace) -> int:
    """Project photos into the generator's latent space; write what was found."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from dcgan.data.images import image_grid
    from dcgan.explore.export import latent_json, latent_npy, png_bytes
    from dcgan.explore.projection import Projector, Settings, photo_pixels, run_discriminator

    settings = Settings(steps=args.steps, restarts=args.restarts, seed=args.seed,
                        candidates=max(Settings.candidates, args.restarts))
    try:
        settings.check()
    except ValueError as exc:
        raise DcganError(f"--{str(exc).replace('_', '-')}") from None
    generator, run_dir, checkpoint = _chosen_generator(args, ws)
    targets = []  # each photo cropped as the generator's training images were
    for name in args.images:
        try:
            targets.append((Path(name), photo_pixels(Path(name).read_bytes(),
                                                     data_crop=generator.data_crop)))
        except OSError as exc:
            raise DcganError(f"{name}: cannot read it ({exc.strerror or exc})") from None
        except DcganError as exc:
            raise DcganError(f"{name}: {exc}") from None
    discriminator = run_discriminator(run_dir, checkpoint) if run_dir is not None else None
    projector = Projector(generator, discriminator)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path, target in targets:
        found = projector.project(target, settings)
        stem = path.stem
        (out / f"{stem}_reconstruction.png").write_bytes(png_bytes(found.image))
        (out / f"{stem}_latent.npy").write_bytes(latent_npy(found.z))
        (out / f"{stem}_latent.json").write_bytes(latent_json(
            found.z, photo=path.name, generator=generator.label, rms=found.rms,
            steps=found.steps, restarts=settings.restarts, seed=settings.seed))
        side = image_grid(np.stack([target, found.image]), columns=2)
        (out / f"{stem}_side_by_side.png").write_bytes(
            png_bytes(side.resize((side.width * 4, side.height * 4), Image.Resampling.NEAREST)))
        print(f"{path.name}: RMS {found.rms:.1f} grey levels, |z| "
              f"{float(np.linalg.norm(found.z)):.2f}, {found.steps} steps in "
              f"{found.seconds:.1f} s -> {out / (stem + '_side_by_side.png')}")
    return 0


def cmd_export(args: argparse.Namespace, ws: Workspace) -> int:
    """Write a generator bundle (zip): generator, card, labelled and PCA directions."""
    from pathlib import Path

    from dcgan.explore.bundle import bundle_of

    generator, run_dir, checkpoint = _chosen_generator(args, ws)
    data = bundle_of(ws, generator, run_dir, checkpoint)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"{generator.label} -> {out} ({len(data) / 2**20:.1f} MiB)")
    return 0


def cmd_runs(args: argparse.Namespace, ws: Workspace) -> int:
    from dcgan.runs.folder import disk_bytes
    from dcgan.runs.jobs import runs_with_state

    infos = runs_with_state(ws)
    if not infos:
        print(f"no runs in {ws.runs_dir}")
    for info in infos:
        print(f"{info.run_id}\t{info.state}\t{info.dataset}\t{info.preset}\t"
              f"epoch {info.epoch}/{info.epochs}\t{disk_bytes(info.path) / 1e6:.1f} MB")
    return 0


LISTED = ("ml241", "dcgan", DEFAULT_PRESET)  # presets whose values each flag's help lists


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    from dcgan.config import PRESETS, field_names

    group = parser.add_argument_group(
        "settings (unset: the preset's value, listed as " + " / ".join(LISTED) + ")")
    for name, kind, _ in field_names():
        flag = "--" + name.replace("_", "-")
        values = " / ".join(str(PRESETS[p].get(name)) for p in LISTED)
        if kind is bool:
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=values)
        else:
            group.add_argument(flag, dest=name, type=kind, default=argparse.SUPPRESS,
                               metavar=kind.__name__.upper(), help=values)


def _add_generator_flags(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="run id, number or path")
    which.add_argument("--demo", action="store_true", help="the bundled demo generator")
    p.add_argument("--checkpoint", default=None,
                   help="with --run: epoch number or file name (default: the latest)")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m dcgan", formatter_class=fmt,
        description="DCGAN Portrait Studio: datasets, training and generation of 64x64 "
                    "portraits. The workspace is $DCGAN_HOME (default ./workspace).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", formatter_class=fmt,
                       help="write procedural portraits into DATA/DATASET/NAME")
    p.add_argument("--name", default=BUILTIN_DATASET, help="dataset name")
    p.add_argument("--count", type=int, default=BUILTIN_COUNT, help="number of portraits")
    p.add_argument("--seed", type=int, default=0, help="portrait i of a seed never changes")
    p.add_argument("--size", type=int, default=128, help="side of the written PNG files")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("import", formatter_class=fmt,
                       help="import a zip, a folder, image files or an http(s) zip URL")
    p.add_argument("source", nargs="+", help="zip file, folder, image file(s) or URL")
    p.add_argument("--name", required=True, help="dataset name (letters, digits, - and _)")
    p.add_argument("--keep-duplicates", action="store_true",
                   help="keep images whose pixels repeat an earlier one")
    p.add_argument("--show-skipped", type=int, default=20,
                   help="how many skipped files to list")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("prepare", formatter_class=fmt,
                       help="build the 64x64 cache DATA/DATA_SCALE/NAME (incremental)")
    p.add_argument("name", help="dataset name")
    p.add_argument("--size", type=int, default=64, help="output side in pixels")
    p.add_argument("--crop", choices=["auto", "center", "face"], default="auto",
                   help="face: find and align every face; center: the centred square; auto: "
                        "center for the built-in synthetic portraits, face for imports")
    p.add_argument("--faces", choices=["all", "largest"], default="all",
                   help="with --crop face: every usable face of a photo, or its largest")
    p.add_argument("--face-zoom", type=float, default=DEFAULT_ZOOM,
                   help="framing: 1 is FFHQ's (hair, neck, background), larger is tighter")
    p.add_argument("--min-face", type=int, default=MIN_FACE,
                   help="smallest face box kept, in source pixels")
    p.add_argument("--min-confidence", type=float, default=MIN_CONFIDENCE,
                   help="lowest detector confidence kept")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("datasets", formatter_class=fmt, help="list the workspace's datasets")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("train", formatter_class=fmt,
                       help="train a new run, or continue one (--resume)")
    from dcgan.config import PRESETS
    from dcgan.explore.projection import Settings

    p.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                   help="named settings to start from")
    p.add_argument("--run-name", default=None, help="label of the run folder")
    p.add_argument("--resume", default=None, metavar="RUN",
                   help="continue RUN (id, number or path) from its last checkpoint")
    p.add_argument("--run", default=None, help=argparse.SUPPRESS)  # the background job
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_config_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", formatter_class=fmt,
                       help="sample a grid of portraits from a run's latest checkpoint")
    p.add_argument("--run", required=True, help="run id, number or path")
    p.add_argument("--seeds", default="0-15", help="seeds, e.g. 1-16 or 3,7,42")
    p.add_argument("--out", default="grid.png", help="output PNG file")
    p.add_argument("--columns", type=int, default=8, help="portraits per row")
    p.add_argument("--scale", type=int, default=2, help="upscale factor (nearest)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("estimate", formatter_class=fmt,
                       help="time a few train steps of a preset on this machine (JSON)")
    p.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET, help="preset")
    p.add_argument("--steps", type=int, default=3, help="timed steps")
    _add_config_flags(p)
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("evaluate", formatter_class=fmt,
                       help="SWD and MS-SSIM of a run's generator against its dataset")
    p.add_argument("--run", required=True, help="run id, number or path")
    p.add_argument("--checkpoint", default=None,
                   help="epoch number or file name of a checkpoint (default: the latest)")
    p.add_argument("--n", type=int, default=4096,
                   help="generated and real images (at most half the dataset is used)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("project", formatter_class=fmt,
                       help="find the latent of photos: reconstruction, latent, side by side")
    _add_generator_flags(p)
    p.add_argument("images", nargs="+",
                   help="photo files, cropped as the generator's training images were "
                        "(the largest face aligned, or the centre square)")
    p.add_argument("--out", default="projected", help="output folder")
    p.add_argument("--steps", type=int, default=Settings.steps, help="optimisation steps")
    p.add_argument("--restarts", type=int, default=Settings.restarts,
                   help="starting points optimised together")
    p.add_argument("--seed", type=int, default=0, help="random seed of the search")
    p.set_defaults(func=cmd_project)

    p = sub.add_parser("export", formatter_class=fmt,
                       help="write a generator bundle (zip) that Explore can upload")
    _add_generator_flags(p)
    p.add_argument("--out", default="generator-bundle.zip", help="output zip file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("runs", formatter_class=fmt, help="list training runs and states")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("bootstrap", formatter_class=fmt,
                       help="create and prepare the built-in synthetic dataset if missing")
    p.add_argument("--count", type=int, default=BUILTIN_COUNT, help="number of portraits")
    p.add_argument("--skip-speed", action="store_true",
                   help="do not time the default settings' train step")
    p.add_argument("--address", default=None,
                   help="the address the app will serve on: refuse (exit 2) if it is beyond "
                        "localhost without sign-in or DCGAN_TRUSTED_NETWORK=1")
    p.set_defaults(func=cmd_bootstrap)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ws = Workspace.from_env()
    try:
        return args.func(args, ws)
    except DcganError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
