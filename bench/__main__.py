"""`python -m bench [--quick] [--only NAME ...]`: run benchmarks, rewrite BENCHMARKS.md."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from bench.common import ROOT, STEAL_SPOILS

BENCHMARKS = {"prepare": "bench.prepare_bench", "train": "bench.train_bench",
              "explore": "bench.explore_bench", "quality": "bench.quality_bench",
              "dashboard": "bench.dashboard_bench", "precision": "bench.precision_bench",
              "gpu": "bench.gpu_bench", "projection": "bench.projection_bench",
              "faces": "bench.faces_bench", "class": "bench.class_bench"}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="subset to run")
    parser.add_argument("--budget", type=float, default=None,
                        help="quality / precision: training seconds per contender "
                             "(default 300 / 600; quick 2)")
    parser.add_argument("--contenders", nargs="*", default=None,
                        help="quality: presets and references to compare (with the default "
                             "preset; default: studio, demo, radford); a preset with changed "
                             "settings: [label=]preset:field=value,field=value")
    parser.add_argument("--scenarios", nargs="*", default=None,
                        choices=["data10k", "small"],
                        help="quality: 10,000 training images and/or 100 (default: both)")
    parser.add_argument("--dataset", default=None,
                        help="quality: score on this prepared dataset of the workspace "
                             "($DCGAN_HOME) instead of the synthetic scenarios")
    parser.add_argument("--train-images", type=int, default=None,
                        help="quality --dataset: train on a fixed random subset of this many")
    parser.add_argument("--seed", type=int, default=0,
                        help="quality: training seed of every contender")
    parser.add_argument("--out-dir", type=Path, default=ROOT,
                        help="where BENCHMARKS.md and bench/results.json are written")
    args = parser.parse_args()
    for name in args.only or BENCHMARKS:
        print(f"== {name}", flush=True)
        options = {}
        if name == "quality":
            options = {"seed": args.seed, "contenders": args.contenders,
                       "scenarios": args.scenarios, "dataset": args.dataset,
                       "train_images": args.train_images,
                       **({"budget": args.budget} if args.budget else {})}
        elif name == "precision" and args.budget:
            options = {"budget": args.budget}
        report = importlib.import_module(BENCHMARKS[name]).run(args.quick, args.out_dir,
                                                                **options)
        for figure in report.figures:
            print(f"  {figure['name']}: {figure['value']} {figure['unit']}", flush=True)
        if report.steal is not None:
            print(f"  CPU time stolen by the host: {report.steal:.0f}%"
                  + (" - timings spoiled, run again on a quieter host"
                     if report.steal >= STEAL_SPOILS else ""), flush=True)
    return 0


raise SystemExit(main())
