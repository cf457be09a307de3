"""The bundled demo generator (assets/demo): safe loading, range, determinism, diversity."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.data.synthetic import render_portrait
from dcgan.explore.export import DEMO_GENERATOR, demo_available, load_demo_generator


def mean_pairwise_distance(images: np.ndarray) -> float:
    """Mean absolute pixel difference over all pairs, in grey levels (0-255)."""
    flat = images.reshape(len(images), -1).astype(np.float32)
    total, pairs = 0.0, 0
    for i in range(len(flat)):
        total += float(np.abs(flat[i + 1:] - flat[i]).mean(axis=1).sum())
        pairs += len(flat) - i - 1
    return total / pairs


@pytest.fixture(scope="module")
def demo():
    assert demo_available(), f"{DEMO_GENERATOR} must be committed"
    return load_demo_generator()


def test_demo_loads_in_safe_mode_with_the_right_shape(demo):
    images = demo.from_seeds(list(range(8)))
    assert images.shape == (8, 64, 64, 3) and images.dtype == np.uint8
    assert demo.value_range == (-1.0, 1.0)
    assert DEMO_GENERATOR.stat().st_size < 15 * 2**20


def test_demo_is_deterministic_per_seed(demo):
    assert np.array_equal(demo.from_seeds([42])[0], demo.from_seeds([1, 42])[1])
    assert not np.array_equal(demo.from_seeds([42])[0], demo.from_seeds([43])[0])


def test_demo_outputs_are_diverse_like_the_data(demo):
    fakes = demo.from_seeds(list(range(64)))
    reals = np.stack([np.asarray(render_portrait(0, i, 64)) for i in range(64)])
    fake_spread, real_spread = mean_pairwise_distance(fakes), mean_pairwise_distance(reals)
    # A collapsed generator gives near-identical portraits (spread near 0).
    assert fake_spread > 0.5 * real_spread, (fake_spread, real_spread)


def test_demo_directions_are_its_own_principal_directions(demo):
    from dcgan.explore.export import DEMO_DIRECTIONS, load_demo_directions
    from dcgan.explore.latent import pca_directions

    assert DEMO_DIRECTIONS.is_file(), "the demo ships named directions"
    named = load_demo_directions(demo.latent_dim)
    assert 2 <= len(named) <= 8
    pcs, _ = pca_directions(demo.features, demo.latent_dim, samples=2000, components=8)
    for name, vector in named.items():  # each one is (up to sign) one of Explore's sliders
        assert np.abs(pcs @ vector).max() > 0.99, name
        moved = demo.images(np.stack([vector * -3, vector * 3]))  # from the mean face
        assert np.abs(moved[0].astype(int) - moved[1]).mean() > 10, name  # it does something
