"""dcgan.quality.nearest: nearest training images and nearest-neighbour distances."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.quality.nearest import nearest_distances, nearest_images, nearest_other
from tests.conftest import write_cache


def test_nearest_images_finds_the_copy(tmp_path, portraits):
    cache = write_cache(tmp_path, portraits)
    target = portraits[150]
    found = nearest_images(target, cache, k=3, chunk=40)  # spans chunks
    assert found[0] == (150, 0.0)
    assert len(found) == 3 and found[1][1] <= found[2][1] and found[1][1] > 0
    noisy = np.clip(target.astype(int) + 3, 0, 255).astype(np.uint8)
    assert nearest_images(noisy, cache, k=1)[0][0] == 150
    with pytest.raises(ValueError, match="does not match"):
        nearest_images(np.zeros((32, 32, 3), np.uint8), cache)


def test_nearest_distances_match_a_direct_search(portraits):
    queries, pool = portraits[:5], portraits[3:40]
    found = nearest_distances(queries, pool, chunk=16)
    direct = [min(np.sqrt(np.mean((q.astype(float) - p.astype(float)) ** 2)) for p in pool)
              for q in queries]
    np.testing.assert_allclose(found, direct, rtol=1e-4, atol=1e-2)
    assert found[3] == pytest.approx(0.0, abs=1e-2) and found[0] > 1


def test_nearest_other_excludes_the_image_itself():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    images[3] = images[1]  # a look-alike pair: distance 0 for both
    images[4] = np.clip(images[0].astype(int) + 10, 0, 255)
    got = nearest_other(images)
    flat = images.reshape(5, -1).astype(float)
    for i in range(5):
        others = [np.sqrt(np.mean((flat[i] - flat[j]) ** 2)) for j in range(5) if j != i]
        assert got[i] == pytest.approx(min(others), abs=1e-3)
    assert got[1] == got[3] == 0.0 and got[0] > 0
