"""dcgan.data.synthetic: deterministic, varied, portrait-like images written as real files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dcgan.data.synthetic import generate_dataset, render_portrait
from dcgan.errors import DatasetError


def test_same_seed_and_index_give_the_same_portrait():
    a = np.asarray(render_portrait(7, 3))
    b = np.asarray(render_portrait(7, 3))
    assert a.shape == (128, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)


def test_portraits_differ_across_indices_and_seeds():
    images = np.stack([np.asarray(render_portrait(0, i), dtype=np.float32) for i in range(16)])
    pairwise = [np.abs(images[i] - images[j]).mean() for i in range(16) for j in range(i)]
    assert min(pairwise) > 5.0  # no two portraits alike
    other_seed = np.asarray(render_portrait(1, 0), dtype=np.float32)
    assert np.abs(other_seed - images[0]).mean() > 5.0


def test_portrait_layout_face_in_the_centre():
    # Averaged over many portraits, the centre (face) differs from the corners (background).
    images = np.stack([np.asarray(render_portrait(0, i, 64), dtype=np.float32)
                       for i in range(64)])
    mean = images.mean(axis=0)
    centre = images[:, 24:40, 26:38]
    corners = images[:, :8, :8]
    # Faces vary less in colour than backgrounds: the centre is skin-toned (R > B).
    assert (centre[..., 0] - centre[..., 2]).mean() > 15
    assert abs((corners[..., 0] - corners[..., 2]).mean()) < 15
    assert mean.std() > 5


def test_generate_dataset_writes_files_and_report(tmp_path):
    folder = generate_dataset(tmp_path / "synth", 6, seed=3, size=64, workers=1)
    files = sorted(p.name for p in folder.glob("*.png"))
    assert files == [f"synth_{i:06d}.png" for i in range(6)]
    report = json.loads((folder / "import_report.json").read_text())
    assert (report["source"], report["seed"], report["imported"]) == ("synthetic", 3, 6)


def test_parallel_generation_matches_serial(tmp_path):
    serial = generate_dataset(tmp_path / "a", 450, seed=5, size=32, workers=1)
    parallel = generate_dataset(tmp_path / "b", 450, seed=5, size=32, workers=2)
    for i in (0, 249, 250, 449):
        name = f"synth_{i:06d}.png"
        assert (serial / name).read_bytes() == (parallel / name).read_bytes()


def test_progress_and_bad_count(tmp_path):
    seen = []
    generate_dataset(tmp_path / "p", 3, size=32, workers=1,
                     progress_fn=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3, 3)
    with pytest.raises(DatasetError):
        generate_dataset(tmp_path / "q", 0)
