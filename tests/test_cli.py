"""The real `python -m dcgan` commands, run as subprocesses on generated data."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import image_bytes

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
    assert out.returncode == 0 and "40 images (40 processed" in out.stdout
    images = np.load(home / "DATA/DATA_SCALE/demo/images.npy")
    assert images.shape == (40, 64, 64, 3)
    out = dcgan("prepare", "demo", home=home)
    assert "up to date (40 images)" in out.stdout
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
    out = dcgan("bootstrap", "--count", "30", home=home)
    assert out.returncode == 0, out.stderr
    assert "synthetic-portraits ready (30 images)" in out.stdout
    assert "ready (30 images)" in dcgan("bootstrap", home=home).stdout
