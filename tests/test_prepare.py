"""dcgan.data.prepare: the 64x64 cache, incremental refresh, skipped files and duplicates."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from dcgan.data.images import crop_resize, decode_image
from dcgan.data.prepare import load_cache, prepare_dataset
from dcgan.errors import DatasetError
from tests.conftest import image_bytes, write_images


@pytest.fixture
def dataset(ws):
    folder = ws.dataset_dir("faces")
    write_images(folder, 5)
    write_images(folder / "nested", 2, start=20, fmt="JPEG")
    (folder / "broken.png").write_bytes(b"nope")
    (folder / "import_report.json").write_text("{}")
    return folder


def test_prepare_builds_cache_manifest_and_preview(ws, dataset):
    result = prepare_dataset(ws, "faces", crop="center", workers=1)
    assert (result.count, result.processed, result.skipped, result.up_to_date) == (7, 8, 1, False)
    images, manifest = load_cache(ws, "faces")
    assert images.shape == (7, 64, 64, 3) and images.dtype == np.uint8
    assert isinstance(images, np.memmap)
    assert manifest["settings"] == {"size": 64, "crop": "center", "version": 2}
    files = [e["file"] for e in manifest["images"]]
    assert files == sorted(files) and "nested/face_020.jpeg" in files
    assert manifest["skipped"][0]["file"] == "broken.png"
    assert manifest["skipped"][0]["reason"] == "not-an-image"
    # The cached pixels are the centre-crop + Lanczos of the source, exactly.
    first = decode_image(dataset / "face_000.png")
    assert np.array_equal(images[0], crop_resize(first, 64))
    with Image.open(result.cache_dir / "preview.png") as preview:
        assert preview.size[0] > 64 * 2


def test_rerun_on_unchanged_dataset_does_nothing(ws, dataset):
    prepare_dataset(ws, "faces", crop="center", workers=1)
    npy = ws.cache_dir("faces") / "images.npy"
    before = npy.stat().st_mtime_ns
    again = prepare_dataset(ws, "faces", crop="center", workers=1)
    assert again.up_to_date and again.processed == 0 and again.count == 7
    assert npy.stat().st_mtime_ns == before


def test_changed_added_and_removed_files_are_picked_up(ws, dataset):
    prepare_dataset(ws, "faces", crop="center", workers=1)
    target = dataset / "face_001.png"
    target.write_bytes(image_bytes(99))
    os.utime(target, ns=(1, 1))  # a new mtime and content
    (dataset / "face_004.png").unlink()
    write_images(dataset, 1, start=50)
    result = prepare_dataset(ws, "faces", crop="center", workers=1)
    assert (result.processed, result.count) == (2, 7)
    images, manifest = load_cache(ws, "faces")
    index = [e["file"] for e in manifest["images"]].index("face_001.png")
    assert np.array_equal(images[index], crop_resize(decode_image(target), 64))
    assert "face_004.png" not in [e["file"] for e in manifest["images"]]


def test_duplicate_files_are_dropped_and_reported(ws, dataset):
    (dataset / "copy.png").write_bytes((dataset / "face_000.png").read_bytes())
    result = prepare_dataset(ws, "faces", crop="center", workers=1)
    assert result.duplicates == 1
    _, manifest = load_cache(ws, "faces")
    assert manifest["duplicates"] == [{"file": "face_000.png", "duplicate_of": "copy.png"}]


def test_parallel_matches_serial(ws):
    write_images(ws.dataset_dir("many"), 450)
    prepare_dataset(ws, "many", crop="center", workers=1)
    serial = np.array(load_cache(ws, "many")[0])
    ws.delete_dataset("many")
    write_images(ws.dataset_dir("many"), 450)
    seen = []
    prepare_dataset(ws, "many", crop="center", workers=2,
                    progress_fn=lambda d, t: seen.append((d, t)))
    assert np.array_equal(np.array(load_cache(ws, "many")[0]), serial)
    assert seen[-1] == (450, 450)


def test_other_size_rebuilds(ws, dataset):
    prepare_dataset(ws, "faces", crop="center", workers=1)
    result = prepare_dataset(ws, "faces", crop="center", size=32, workers=1)
    assert not result.up_to_date and result.processed == 8
    assert load_cache(ws, "faces")[0].shape == (7, 32, 32, 3)


def test_errors_name_the_problem(ws):
    with pytest.raises(DatasetError, match="no dataset named 'ghost'"):
        prepare_dataset(ws, "ghost")
    with pytest.raises(DatasetError, match="not prepared yet"):
        load_cache(ws, "ghost")
    ws.dataset_dir("empty").mkdir()
    (ws.dataset_dir("empty") / "x.jpg").write_text("text")
    with pytest.raises(DatasetError, match=r"no usable images.*not-an-image"):
        prepare_dataset(ws, "empty", crop="center")
    with pytest.raises(DatasetError, match="size"):
        prepare_dataset(ws, "empty", crop="center", size=4)


def test_manifest_records_sources(ws, dataset):
    prepare_dataset(ws, "faces", crop="center", workers=1)
    manifest = json.loads((ws.cache_dir("faces") / "manifest.json").read_text())
    entry = manifest["images"][0]
    assert set(entry) == {"file", "bytes", "mtime_ns", "sha256", "source_size"}
    assert entry["source_size"] == [80, 96] and len(entry["sha256"]) == 64
