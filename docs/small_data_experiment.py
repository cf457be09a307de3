"""The small-data experiment behind the run warnings (docs/DECISIONS.md "Warnings on small data").

Trains the presets a new user picks on 180 images until they fail, with the project's CLI,
and keeps each run's epoch and evaluation records as a test fixture
(tests/data/small-data/<name>.jsonl), so the warnings are tested on what really happened:

    export DCGAN_HOME=workspace/small-data PYTHONPATH=.
    .venv/bin/python docs/small_data_experiment.py data     # small-synth and small-photo
    .venv/bin/python docs/small_data_experiment.py train demo small-photo 150
    .venv/bin/python docs/small_data_experiment.py record 00001-small-photo-demo demo-photo

"small-photo" is photo-like: synthetic portraits made to look like phone photos (blur, a
lighting gradient, sensor noise, a colour cast, JPEG compression), imported as JPEG files.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from dcgan.data.synthetic import render_portrait
from dcgan.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "small-data"
COUNT = 180


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "dcgan", *args], cwd=ROOT, check=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def photo_like(image: Image.Image, rng: np.random.Generator) -> bytes:
    """A portrait as a phone photo might have it: soft, unevenly lit, noisy, tinted, JPEG."""
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.6)))
    pixels = np.asarray(image, np.float32)
    h, w = pixels.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w) - 0.5
    light = 1 + rng.uniform(0.1, 0.35) * (np.cos(angle) * xx + np.sin(angle) * yy)
    cast = 1 + rng.normal(0, 0.06, 3)
    pixels = pixels * light[..., None] * cast + rng.normal(0, rng.uniform(3, 9), pixels.shape)
    out = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=int(rng.integers(35, 75)))
    return buf.getvalue()


def make_data() -> None:
    ws = Workspace.from_env().ensure()
    cli("synth", "--name", "small-synth", "--count", str(COUNT), "--seed", "1")
    cli("prepare", "small-synth")
    folder = ws.root / "photo-source"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    for i in range(COUNT):
        (folder / f"IMG_{i:04d}.jpg").write_bytes(photo_like(render_portrait(2, i, 128), rng))
    cli("import", str(folder), "--name", "small-photo")
    cli("prepare", "small-photo", "--crop", "center")  # drawn faces, as measured then


def train(preset: str, dataset: str, epochs: int) -> None:
    cli("train", "--dataset", dataset, "--preset", preset, "--batch-size", "16",
        "--epochs", str(epochs), "--eval-every", "5", "--checkpoint-every", "10",
        "--no-progress")


def record(run: str, name: str) -> None:
    """Keep the run's epoch and evaluation records (the warnings read only those)."""
    ws = Workspace.from_env()
    lines = (ws.runs_dir / run / "metrics.jsonl").read_text().splitlines()
    kept = [line for line in lines if json.loads(line).get("kind") in ("epoch", "eval")]
    FIXTURES.mkdir(parents=True, exist_ok=True)
    config = json.loads((ws.runs_dir / run / "config.json").read_text())
    (FIXTURES / f"{name}.jsonl").write_text("\n".join(kept) + "\n")
    meta = {"run": run, "preset": config["preset"], "loss": config["train"]["loss"],
            "augment": config["data"]["augment"], "dataset": config["data"]["dataset"],
            "train_images": COUNT}  # 180 < 10 x 90: nothing held out (dcgan.quality.metrics)
    (FIXTURES / f"{name}.meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{len(kept)} records -> {FIXTURES / name}.jsonl")


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "data":
        make_data()
    elif command == "train":
        train(rest[0], rest[1], int(rest[2]))
    elif command == "record":
        record(rest[0], rest[1])
    else:
        raise SystemExit(__doc__)
