"""Command-line front end: `python -m dcgan <command> --help` shows each command's options.

Errors meant for people (dcgan.errors.DcganError) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from dcgan.errors import DcganError
from dcgan.workspace import Workspace

BUILTIN_DATASET = "synthetic-portraits"
BUILTIN_COUNT = 4000


def _progress(desc: str, unit: str = "img") -> tuple[Callable[[int, int], None], Callable]:
    """A tqdm bar as a progress_fn(done, total), and a function to close it."""
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


def cmd_synth(args: argparse.Namespace, ws: Workspace) -> int:
    from dcgan.synthetic import generate_dataset

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
    from dcgan.ingest import import_source

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
    from dcgan.prepare import prepare_dataset

    update, close = _progress(f"prepare {args.name}")
    try:
        result = prepare_dataset(ws, args.name, size=args.size, workers=args.workers,
                                 progress_fn=update)
    finally:
        close()
    if result.up_to_date:
        print(f"{args.name}: up to date ({result.count} images) in {result.cache_dir}")
    else:
        print(f"{args.name}: {result.count} images ({result.processed} processed, "
              f"{result.reused} reused, {result.skipped} skipped, {result.duplicates} "
              f"duplicates) -> {result.cache_dir}")
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
    """Make sure the built-in dataset exists and is prepared (used by `make run`)."""
    from dcgan.prepare import prepare_dataset
    from dcgan.synthetic import generate_dataset

    ws.ensure()
    folder = ws.dataset_dir(BUILTIN_DATASET)
    if not (folder / "import_report.json").is_file():
        print(f"creating the built-in dataset {BUILTIN_DATASET} ({args.count} portraits)...")
        generate_dataset(folder, args.count, seed=0)
    result = prepare_dataset(ws, BUILTIN_DATASET)
    print(f"workspace {ws.root}: {BUILTIN_DATASET} ready ({result.count} images)")
    return 0


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
    p.add_argument("--crop", choices=["center"], default="center",
                   help="crop policy (a face-centred crop is not available, see README)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("datasets", formatter_class=fmt, help="list the workspace's datasets")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("bootstrap", formatter_class=fmt,
                       help="create and prepare the built-in synthetic dataset if missing")
    p.add_argument("--count", type=int, default=BUILTIN_COUNT, help="number of portraits")
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
