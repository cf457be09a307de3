"""The real `python -m dcgan` commands, run as subprocesses on generated data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ASTRONAUT, image_bytes

ROOT = Path(__file__).resolve().parents[1]


def dcgan(*args: str, home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "DCGAN_ALLOWED_ROOTS"}
    full_env.update({"DCGAN_HOME": str(home), **(env or {})})
    return subprocess.run([sys.executable, "-m", "dcgan", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=300)


def test_help_lists_the_subcommands(tmp_path):
    out = dcgan("--help", home=tmp_path)
    assert out.returncode == 0
    for command in ("synth", "import", "prepare", "datasets", "bootstrap"):
        assert command in out.stdout


@pytest.mark.parametrize("command, default", [("synth", "(default: 4000)"),
                                              ("prepare", "(default: 64)"),
                                              ("import", "(default: 20)")])
def test_each_command_help_shows_defaults(tmp_path, command, default):
    out = dcgan(command, "--help", home=tmp_path)
    assert out.returncode == 0 and default in out.stdout


def test_synth_prepare_datasets_round_trip(tmp_path):
    home = tmp_path / "home"
    out = dcgan("synth", "--name", "demo", "--count", "40", "--seed", "2", "--size", "64",
                home=home)
    assert out.returncode == 0, out.stderr
    assert len(list((home / "DATA/DATASET/demo").glob("synth_*.png"))) == 40
    out = dcgan("prepare", "demo", "--workers", "1", home=home)
    assert out.returncode == 0 and "40 images, centre crops (40 files processed" in out.stdout
    # stderr is a pipe here: progress comes as plain lines, the last one at the end
    assert out.stderr.strip().splitlines()[-1].startswith("prepare demo: 40/40 img (100%")
    assert "\r" not in out.stderr
    images = np.load(home / "DATA/DATA_SCALE/demo/images.npy")
    assert images.shape == (40, 64, 64, 3)
    out = dcgan("prepare", "demo", home=home)
    assert "up to date (40 images, centre crops)" in out.stdout
    listing = dcgan("datasets", home=home).stdout
    assert listing.startswith("demo\t40 files\t40 prepared")


def test_import_zip_and_report_skips(tmp_path):
    home = tmp_path / "home"
    archive = tmp_path / "in.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/1.png", image_bytes(1))
        zf.writestr("a/2.jpg", image_bytes(2, "JPEG"))
        zf.writestr("bad.jpg", b"text")
    out = dcgan("import", str(archive), "--name", "mine", home=home)
    assert out.returncode == 0, out.stderr
    assert "mine: 2 imported, 1 skipped (1 not-an-image)" in out.stdout
    assert "skipped bad.jpg: not-an-image" in out.stdout


def test_train_with_every_recipe_option_on_and_evaluate_its_ema_generator(tiny_home):
    out = dcgan("train", "--preset", "dcgan", "--epochs", "2", *TINY_FLAGS, "--ema-half-life",
                "32", "--augment", "adaptive", "--ada-images", "160", "--augment-policy",
                "color,cutout", "--d-norm", "spectral", "--loss", "hinge", "--r1-gamma", "0.5",
                "--r1-every", "2", "--eval-every", "1", "--eval-images", "8", "--log-every", "1",
                home=tiny_home)
    assert out.returncode == 0, out.stderr[-2000:]
    run = tiny_home / "GAN_MODEL" / "00001-tiny-dcgan"
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["augment"] == "adaptive" and config["model"]["d_norm"] == "spectral"
    assert config["train"]["ema_half_life"] == 32 and config["train"]["r1_every"] == 2
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    assert steps[0]["augment_p"] == 0.0 and "r1" in steps[0] and "r1" not in steps[1]
    assert [r for r in records if r["kind"] == "eval"][-1]["color_dist"] > 0
    from dcgan.explore.export import load_run_generator
    from dcgan.train.checkpoints import load_latest

    state, _, _ = load_latest(run)
    assert {"ema", "aug"} <= set(state) and 0 <= state["aug"][0][0] <= 1
    shown = load_run_generator(run).model  # Explore, generate and evaluate use the EMA copy
    np.testing.assert_array_equal(shown.get_weights()[0], state["ema"][0])
    assert not np.array_equal(state["ema"][0], state["g"][0])
    import keras

    saved = keras.saving.load_model(run / "generator.keras", safe_mode=True)
    np.testing.assert_array_equal(saved.get_weights()[0], state["ema"][0])


@pytest.mark.parametrize(
    "args, message",
    [
        (("prepare", "ghost"), "error: no dataset named 'ghost'"),
        (("import", "/definitely/missing.zip", "--name", "x"), "error: not found"),
        (("import", "ftp://x/y.zip", "--name", "x"), "error: only http"),
        (("synth", "--name", "../up", "--count", "2"), "error: invalid dataset name"),
        (("synth", "--name", "z", "--count", "0"), "error: count must be >= 1"),
    ],
)
def test_errors_are_one_line_and_non_zero(tmp_path, args, message):
    out = dcgan(*args, home=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().startswith(message)
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_allowed_roots_confine_cli_paths(tmp_path):
    outside = tmp_path / "outside.zip"
    with zipfile.ZipFile(outside, "w") as zf:
        zf.writestr("1.png", image_bytes(1))
    out = dcgan("import", str(outside), "--name", "x", home=tmp_path / "home",
                env={"DCGAN_ALLOWED_ROOTS": str(tmp_path / "data")})
    assert out.returncode == 2 and "not inside an allowed folder" in out.stderr


def test_bootstrap_creates_the_builtin_dataset(tmp_path):
    home = tmp_path / "home"
    out = dcgan("bootstrap", "--count", "30", "--skip-speed", home=home)
    assert out.returncode == 0, out.stderr
    assert "synthetic-portraits ready (30 images)" in out.stdout
    assert not (home / "speed.json").exists()
    out = dcgan("bootstrap", home=home)
    assert "ready (30 images)" in out.stdout and "images/s with the studio preset" in out.stdout
    import json

    speed = json.loads((home / "speed.json").read_text())
    assert speed["seconds_per_step"] > 0 and speed["images_per_s"] > 0 and speed["device"]


@pytest.fixture
def tiny_home(tmp_path):
    home = tmp_path / "home"
    assert dcgan("synth", "--name", "tiny", "--count", "32", "--size", "64", "--workers", "1",
                 home=home).returncode == 0
    assert dcgan("prepare", "tiny", "--workers", "1", home=home).returncode == 0
    return home


TINY_FLAGS = ["--dataset", "tiny", "--batch-size", "8", "--g-filters", "8", "--d-filters", "8",
              "--latent-dim", "16", "--steps-per-epoch", "2", "--checkpoint-every", "1"]


def test_train_generate_resume_and_runs(tiny_home, tmp_path):
    out = dcgan("train", "--preset", "ml241", "--epochs", "2", *TINY_FLAGS, home=tiny_home)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "00001-tiny-ml241: done" in out.stdout
    assert "epoch" in out.stderr  # the tqdm bar
    run = tiny_home / "GAN_MODEL" / "00001-tiny-ml241"
    config = (run / "config.json").read_text()
    assert '"g_lr": 0.0002' in config and '"d_lr": 5e-05' in config and '"epochs": 2' in config

    grid = tmp_path / "grid.png"
    out = dcgan("generate", "--run", "1", "--seeds", "1-6", "--out", str(grid),
                "--columns", "3", "--scale", "1", home=tiny_home)
    assert out.returncode == 0, out.stderr[-2000:]
    from PIL import Image

    with Image.open(grid) as img:
        assert img.size == (3 * 66 + 2, 2 * 66 + 2)
    again = tmp_path / "again.png"
    dcgan("generate", "--run", "1", "--seeds", "1-6", "--out", str(again), "--columns", "3",
          "--scale", "1", home=tiny_home)
    assert grid.read_bytes() == again.read_bytes()  # same seeds, same portraits

    out = dcgan("evaluate", "--run", "1", "--n", "8", "--json", home=tiny_home)
    assert out.returncode == 0, out.stderr[-2000:]
    record = json.loads(out.stdout.strip().splitlines()[-1])
    assert record["eval_images"] == 8 and record["held_out"] is False
    assert record["swd"] > record["swd_floor"] > 0 and 0 <= record["ms_ssim"] <= 1
    assert record["generator"] == "00001-tiny-ml241 @ ckpt-00002-000000004.npz"
    out = dcgan("evaluate", "--run", "1", "--checkpoint", "1", "--n", "8", home=tiny_home)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("00001-tiny-ml241 @ ckpt-00001-000000002.npz: SWD ")
    assert "8 generated vs 8 real images (seen in training)" in out.stdout
    out = dcgan("evaluate", "--run", "1", "--checkpoint", "7", home=tiny_home)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "error: --checkpoint: run 00001-tiny-ml241 has no checkpoint '7'; epochs with a "
        "checkpoint: 1, 2")

    out = dcgan("train", "--resume", "1", "--epochs", "3", "--no-progress", home=tiny_home)
    assert out.returncode == 0 and "done" in out.stdout
    assert '"epochs": 3' in (run / "config.json").read_text()
    line = dcgan("runs", home=tiny_home).stdout.splitlines()[0]
    assert line.startswith("00001-tiny-ml241\tdone\ttiny\tml241\tepoch 3/3\t")
    size = sum(p.stat().st_size for p in run.rglob("*") if p.is_file())
    assert line.endswith(f"\t{size / 1e6:.1f} MB")  # the run's disk total


@pytest.mark.parametrize(
    "args, message",
    [
        (["--g-lr", "-1"], "error: g_lr: -1.0 is out of range"),
        (["--latent-dim", "0"], "error: latent_dim: 0 is out of range"),
        (["--batch-size", "64"], "error: batch_size: 64 is larger than the dataset (32 images)"),
        (["--preset", "nope"], "invalid choice"),
    ],
)
def test_bad_hyperparameters_are_refused_before_a_run_exists(tiny_home, args, message):
    flags = [f for f in TINY_FLAGS]
    if "--batch-size" in args:
        i = flags.index("--batch-size")
        del flags[i:i + 2]
    out = dcgan("train", *flags, *args, home=tiny_home)
    assert out.returncode == 2 and message in out.stderr
    assert not list((tiny_home / "GAN_MODEL").glob("0*"))


def test_resume_rejects_other_settings_and_unknown_runs(tiny_home):
    out = dcgan("train", "--resume", "7", home=tiny_home)
    assert out.returncode == 2 and "error: no run '7'" in out.stderr
    out = dcgan("generate", "--run", "1", "--seeds", "x", home=tiny_home)
    assert out.returncode == 2


def test_project_and_export_commands(tmp_path):
    from PIL import Image

    from dcgan.data.synthetic import render_portrait
    from dcgan.explore.bundle import read_bundle
    from dcgan.explore.export import load_latent

    render_portrait(2, 4, 120).save(tmp_path / "face.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a photo")
    out = dcgan("project", "--demo", str(tmp_path / "face.png"), "--out", str(tmp_path / "p"),
                "--steps", "40", "--restarts", "2", home=tmp_path / "home")
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.match(r"face\.png: RMS \d+\.\d grey levels, \|z\| \d+\.\d\d, 40 steps in ",
                    out.stdout)
    files = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert files == ["face_latent.json", "face_latent.npy", "face_reconstruction.png",
                     "face_side_by_side.png"]
    z = load_latent((tmp_path / "p" / "face_latent.npy").read_bytes(), 64)
    meta = json.loads((tmp_path / "p" / "face_latent.json").read_text())
    assert np.allclose(meta["z"], z) and meta["steps"] == 40 and meta["photo"] == "face.png"
    with Image.open(tmp_path / "p" / "face_side_by_side.png") as side:
        assert side.size == (4 * (2 * 64 + 3 * 2), 4 * (64 + 2 * 2))
    bad = dcgan("project", "--demo", str(tmp_path / "broken.jpg"), home=tmp_path / "home")
    assert bad.returncode == 2
    assert bad.stderr.strip().endswith("broken.jpg: not-an-image: the content is not a "
                                       "readable image")
    neither = dcgan("project", str(tmp_path / "face.png"), home=tmp_path / "home")
    assert neither.returncode == 2 and "one of the arguments --run --demo is required" in \
        neither.stderr

    made = dcgan("export", "--demo", "--out", str(tmp_path / "demo.zip"), home=tmp_path / "home")
    assert made.returncode == 0, made.stderr[-2000:]
    bundle = read_bundle((tmp_path / "demo.zip").read_bytes())
    assert bundle.card["epoch"] == 70 and len(bundle.directions) == 5
    assert bundle.pca[0].shape == (8, 64)


def test_prepare_finds_faces_in_imported_photos(tmp_path):
    import shutil

    home = tmp_path / "home"
    source = tmp_path / "photos"
    source.mkdir()
    shutil.copy(ASTRONAUT, source / "me.jpg")
    (source / "wall.png").write_bytes(image_bytes(2, size=(200, 160)))
    assert dcgan("import", str(source), "--name", "mine", home=home).returncode == 0
    out = dcgan("prepare", "mine", "--workers", "1", home=home)
    assert out.returncode == 0, out.stderr
    assert "mine: 1 images, faces (2 files processed, 0 reused, 1 skipped" in out.stdout
    manifest = json.loads((home / "DATA/DATA_SCALE/mine/manifest.json").read_text())
    assert manifest["skipped"][0]["reason"] == "no-face"
    bad = dcgan("prepare", "mine", "--face-zoom", "9", home=home)
    assert bad.returncode == 2 and "--face-zoom: 9 is out of range" in bad.stderr


def test_bootstrap_refuses_to_serve_beyond_localhost_without_sign_in(tmp_path):
    home = tmp_path / "home"
    refused = dcgan("bootstrap", "--address", "0.0.0.0", "--count", "8", "--skip-speed",
                    home=home, env={"DCGAN_TRUSTED_NETWORK": "", "HOME": str(tmp_path)})
    assert refused.returncode == 2
    assert "served on 0.0.0.0, beyond this machine, without sign-in" in refused.stderr
    assert not (home / "DATA").exists()  # nothing made: `make run` stops before the app
    trusted = dcgan("bootstrap", "--address", "0.0.0.0", "--count", "8", "--skip-speed",
                    home=home, env={"DCGAN_TRUSTED_NETWORK": "1", "HOME": str(tmp_path)})
    assert trusted.returncode == 0, trusted.stderr
    assert "beyond this machine WITHOUT sign-in" in trusted.stdout
    local = dcgan("bootstrap", "--address", "localhost", "--count", "8", "--skip-speed",
                  home=home, env={"HOME": str(tmp_path)})
    assert "this machine only, no sign-in" in local.stdout


def test_a_class_time_limit_stops_the_job_and_says_so(tiny_home):
    out = dcgan("train", "--preset", "ml241", "--epochs", "500", *TINY_FLAGS, home=tiny_home,
                env={"DCGAN_MAX_MINUTES": "0.01"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "00001-tiny-ml241: stopped" in out.stdout
    status = json.loads((tiny_home / "GAN_MODEL" / "00001-tiny-ml241" / "status.json")
                        .read_text())
    assert status["state"] == "stopped" and status["epoch"] < 500
    assert "limit of 0.01 minutes per run" in status["note"]
