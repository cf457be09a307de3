"""Build the bundled demo generator (assets/demo) from a finished training run.

Run from the repository root with the run's workspace, one step at a time:

    export DCGAN_HOME=workspace/demo-build PYTHONPATH=.
    .venv/bin/python docs/build_demo.py table 00001-demo      # per-checkpoint table + choice
    .venv/bin/python docs/build_demo.py export 00001-demo ckpt-00060-...npz
    .venv/bin/python docs/build_demo.py spread 00001-demo     # look-alikes among 64 samples
    .venv/bin/python docs/build_demo.py pca-sheet /tmp/pca.png  # /tmp/pca-1.png, -2.png: by eye
    .venv/bin/python docs/build_demo.py directions "PC1=Lighter hair" "-PC3=Darker skin"

`table` reads the evaluations the run logged (SWD / MS-SSIM on its held-out sample) and
applies the selection rule (`dcgan.quality.evaluator.choose_checkpoint`); `export` writes the chosen
checkpoint's EMA generator and the run's config beside it; `directions` writes the named PCA
directions Explore opens with ("-PCk" flips the sign so that + means the name).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from dcgan.config import Config
from dcgan.data.cache import CacheReader
from dcgan.explore.export import (
    DEMO_DIR,
    DEMO_DIRECTIONS,
    DEMO_GENERATOR,
    grid_png,
    load_demo_generator,
    load_run_generator,
    upscale,
)
from dcgan.explore.latent import apply_directions, pca_directions, z_from_seeds
from dcgan.quality.evaluator import choose_checkpoint, eval_split
from dcgan.quality.nearest import nearest_other
from dcgan.runs.folder import read_metrics, resolve_run
from dcgan.train.checkpoints import list_checkpoints
from dcgan.workspace import Workspace

COMPONENTS = 8  # the sliders Explore shows
SHEET_SEEDS = (0, 5, 11)
AMOUNTS = (-3.0, -1.5, 0.0, 1.5, 3.0)


def table(run: str) -> None:
    run_dir = resolve_run(Workspace.from_env(), run)
    evals = [r for r in read_metrics(run_dir) if r.get("kind") == "eval"]
    names = {int(p.name.split("-")[1]): p.name for p in list_checkpoints(run_dir)}
    print("| epoch | images | minutes | SWD x1e3 | x floor | colour | MS-SSIM | vs real |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    first = next((r for r in read_metrics(run_dir) if r.get("kind") == "step"), None)
    start = first["time"] if first else 0.0  # minutes from the first logged step
    batch = Config.from_json((run_dir / "config.json").read_text()).train.batch_size
    for r in evals:
        print(f"| {r['epoch']} | {r['step'] * batch:,} | {(r['time'] - start) / 60:.0f} | "
              f"{r['swd']:.1f} | {r['swd'] / r['swd_floor']:.2f} | {r['color_dist']:.1f} | "
              f"{r['ms_ssim']:.3f} | {r['ms_ssim'] - r['ms_ssim_real']:+.3f} |")
    if evals:
        r = evals[0]
        print(f"\nfloor SWD {r['swd_floor']:.1f}, colour floor {r['color_dist_floor']:.1f}, "
              f"real MS-SSIM {r['ms_ssim_real']:.3f}, n = {r['eval_images']}, "
              f"held out: {r['held_out']}")
    found = choose_checkpoint(evals)
    if found is None:
        print("no evaluation logged yet")
    else:
        chosen, why = found
        print(f"chosen: epoch {chosen['epoch']} -> {names.get(chosen['epoch'], '(deleted)')} "
              f"({why})")


def export(run: str, checkpoint: str) -> None:
    run_dir = resolve_run(Workspace.from_env(), run)
    generator = load_run_generator(run_dir, run_dir / "checkpoints" / checkpoint)
    generator.model.save(DEMO_GENERATOR)
    shutil.copyfile(run_dir / "config.json", DEMO_DIR / "config.json")
    print(f"{generator.label} -> {DEMO_GENERATOR} ({DEMO_GENERATOR.stat().st_size:,} bytes)")


def spread(run: str) -> None:
    """Nearest-other RMS distances among 64 demo samples and 64 held-out real portraits."""
    ws = Workspace.from_env()
    run_dir = resolve_run(ws, run)
    config = Config.from_json((run_dir / "config.json").read_text())
    reader = CacheReader(ws.prepared_cache(config.data.dataset))
    split = eval_split(len(reader), config.train.eval_images, config.train.seed)
    real = reader.read(split.reference[:64])
    fake = load_demo_generator().from_seeds(list(range(64)))
    for label, images in (("demo seeds 0-63", fake), ("64 held-out real", real)):
        d = nearest_other(images)
        print(f"{label}: nearest other median {np.median(d):.1f}, min {d.min():.1f}, "
              f"10th percentile {np.percentile(d, 10):.1f} grey levels")


def _pca(generator):
    return pca_directions(generator.features, generator.latent_dim, samples=2000,
                          components=COMPONENTS)


def pca_sheet(out: str) -> None:
    """Two sheets (PC1-4, PC5-8), one row per (component, seed): the portrait at AMOUNTS."""
    demo = load_demo_generator()
    directions, explained = _pca(demo)
    for sheet, components in enumerate((range(0, 4), range(4, COMPONENTS)), start=1):
        rows = []
        for k in components:
            for seed in SHEET_SEEDS:
                z = z_from_seeds([seed], demo.latent_dim)[0]
                amounts = np.zeros((len(AMOUNTS), COMPONENTS), np.float32)
                amounts[:, k] = AMOUNTS
                rows.append(demo.images(np.stack([apply_directions(z, directions, a)
                                                  for a in amounts])))
            print(f"PC{k + 1}: {explained[k]:.1%} of the variance")
        images = np.stack([np.asarray(upscale(i, 96, "lanczos")) for row in rows for i in row])
        path = Path(out).with_name(f"{Path(out).stem}-{sheet}.png")
        path.write_bytes(grid_png(images, len(AMOUNTS)))
        print(path, f"rows: {len(SHEET_SEEDS)} seeds per component, amounts {AMOUNTS}")


def directions(specs: list[str]) -> None:
    demo = load_demo_generator()
    found, _ = _pca(demo)
    named = {}
    for spec in specs:
        key, name = spec.split("=", 1)
        sign = -1.0 if key.startswith("-") else 1.0
        named[name] = [round(float(v), 6) for v in sign * found[int(key.lstrip("-PC")) - 1]]
    DEMO_DIRECTIONS.write_text(json.dumps(named, indent=1) + "\n", encoding="utf-8")
    print(f"{', '.join(named)} -> {DEMO_DIRECTIONS}")


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"table": lambda: table(*rest), "export": lambda: export(*rest),
     "spread": lambda: spread(*rest), "pca-sheet": lambda: pca_sheet(*rest),
     "directions": lambda: directions(rest)}[command]()
