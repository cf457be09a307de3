"""dcgan.data.cache: random access to the rows of the prepared cache."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.data.cache import CacheReader
from dcgan.errors import DatasetError


def test_reader_returns_the_requested_rows(cache):
    path, images = cache
    reader = CacheReader(path)
    assert len(reader) == 10 and reader.shape == (10, 8, 8, 3)
    assert np.array_equal(reader.read(np.array([7, 2, 2])), images[[7, 2, 2]])


def test_reader_rejects_other_arrays_and_truncation(tmp_path, cache):
    np.save(tmp_path / "f.npy", np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(DatasetError, match="uint8 image cache"):
        CacheReader(tmp_path / "f.npy")
    path, _ = cache
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(DatasetError, match="truncated"):
        CacheReader(path).read(np.array([9]))


def test_a_caches_settings_or_none(tmp_path):
    from dcgan.data.cache import cache_settings

    assert cache_settings(tmp_path) is None  # no manifest
    (tmp_path / "manifest.json").write_text('{"settings": {"crop": "face", "size": 64}}')
    assert cache_settings(tmp_path) == {"crop": "face", "size": 64}
    (tmp_path / "manifest.json").write_text("not json")
    assert cache_settings(tmp_path) is None
