"""dcgan.latent: seeds to z, seed lists."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.latent import parse_seeds, z_from_seed, z_from_seeds


def test_same_seed_same_vector_and_standard_normal():
    a, b = z_from_seed(42, 100), z_from_seed(42, 100)
    assert a.dtype == np.float32 and a.shape == (100,)
    assert np.array_equal(a, b) and not np.array_equal(a, z_from_seed(43, 100))
    many = z_from_seeds(list(range(200)), 100)
    assert abs(many.mean()) < 0.05 and abs(many.std() - 1) < 0.05
    assert np.array_equal(many[42], a)


def test_parse_seeds():
    assert parse_seeds("1-4,9") == [1, 2, 3, 4, 9]
    assert parse_seeds(" 7 ") == [7]
    for bad in ("", "4-1", "x", "-3", "0-20000"):
        with pytest.raises(ValueError):
            parse_seeds(bad)
