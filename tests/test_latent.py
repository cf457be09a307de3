"""dcgan.explore.latent: seeds, truncation, interpolation, PCA and labelled directions."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.explore import latent as latent_module
from dcgan.explore.latent import (
    apply_directions,
    interpolate,
    labelled_direction,
    lerp,
    load_pca,
    parse_seeds,
    pca_cache_file,
    pca_directions,
    save_pca,
    slerp,
    top_singular,
    truncate,
    z_from_seed,
    z_from_seeds,
)


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


def test_truncation_scales_and_resamples():
    z = np.array([0.5, -3.0, 2.0, 4.0], np.float32)
    np.testing.assert_allclose(truncate(z, 0.5), z * 0.5)
    clipped = truncate(z, 1.0, threshold=1.5, seed=3)
    assert np.all(np.abs(clipped) <= 1.5) and clipped[0] == 0.5
    assert np.array_equal(clipped, truncate(z, 1.0, threshold=1.5, seed=3))


def test_slerp_endpoints_norms_and_great_circle():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(64).astype(np.float32), rng.standard_normal(64).astype(
        np.float32) * 2
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-5)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-5)
    mid = slerp(a, b, 0.5)
    np.testing.assert_allclose(np.linalg.norm(mid),
                               (np.linalg.norm(a) + np.linalg.norm(b)) / 2, rtol=1e-5)
    # lerp shrinks the middle of two random vectors; slerp does not.
    assert np.linalg.norm(lerp(a, b, 0.5)) < np.linalg.norm(mid)
    np.testing.assert_allclose(slerp(a, a * 2, 0.5), a * 1.5, rtol=1e-5)  # parallel


def test_interpolate_through_keyframes():
    keys = np.eye(3, 8, dtype=np.float32) * 2
    path = interpolate(keys, 5, "lerp")
    assert path.shape == (5, 8)
    np.testing.assert_allclose(path[0], keys[0])
    np.testing.assert_allclose(path[2], keys[1])
    np.testing.assert_allclose(path[4], keys[2])
    with pytest.raises(ValueError):
        interpolate(keys[:1], 5)


def test_pca_recovers_a_planted_direction():
    latent = 16
    planted = np.zeros(latent, np.float32)
    planted[[3, 7]] = [0.6, 0.8]
    rng = np.random.default_rng(1)
    mix = rng.standard_normal((latent, 40)) * 0.05

    def features(z):  # activations dominated by the planted direction
        return 10.0 * (z @ planted)[:, None] * np.ones((1, 40)) + z @ mix

    directions, explained = pca_directions(features, latent, samples=1000, components=4)
    assert directions.shape == (4, latent) and explained[0] > 0.9
    assert abs(float(directions[0] @ planted)) > 0.99
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, rtol=1e-5)


def test_randomised_top_singular_matches_the_full_svd():
    rng = np.random.default_rng(3)
    # a decaying spectrum, as activations have: 300 x 500, singular values 1 / (i + 1)
    u, _ = np.linalg.qr(rng.standard_normal((300, 300)))
    v, _ = np.linalg.qr(rng.standard_normal((500, 300)))
    a = (u * (1.0 / np.arange(1, 301))) @ v.T
    s, vt = top_singular(a, 8)
    _, s_full, vt_full = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(s, s_full[:8], rtol=1e-6)
    np.testing.assert_allclose(np.abs(np.sum(vt * vt_full[:8], axis=1)), 1.0, atol=1e-6)
    small = rng.standard_normal((12, 9))  # smaller than k + oversample: the exact SVD
    np.testing.assert_allclose(top_singular(small, 3)[0], np.linalg.svd(small)[1][:3])


def test_pca_cache_is_named_by_the_file_and_bounded(tmp_path, monkeypatch):
    import os

    source = tmp_path / "ckpt-00001-000000010.npz"
    source.write_bytes(b"one generator")
    folder = tmp_path / "pca"
    path = pca_cache_file(folder, source, 2000, 8)
    assert path == pca_cache_file(folder, source, 2000, 8) and path.parent == folder
    assert path != pca_cache_file(folder, source, 2000, 6)
    assert load_pca(path) is None  # nothing yet
    directions = np.eye(3, 5, dtype=np.float32)
    save_pca(path, directions, np.array([0.5, 0.2, 0.1], np.float32))
    found = load_pca(path)
    assert found is not None and np.array_equal(found[0], directions)
    np.testing.assert_allclose(found[1], [0.5, 0.2, 0.1])
    source.write_bytes(b"a new generator, same name")  # another size and mtime
    os.utime(source, ns=(1, 1))
    assert pca_cache_file(folder, source, 2000, 8) != path
    path.write_bytes(b"broken")
    assert load_pca(path) is None
    path.unlink()
    monkeypatch.setattr(latent_module, "PCA_CACHE_FILES", 3)
    for i in range(5):
        save_pca(folder / f"{i}.npz", directions, np.zeros(3, np.float32))
        os.utime(folder / f"{i}.npz", ns=(i + 10, i + 10))
    assert sorted(p.name for p in folder.glob("*.npz")) == ["2.npz", "3.npz", "4.npz"]
    assert not list(folder.glob(".*tmp"))


def test_labelled_direction_points_from_no_to_yes():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((40, 12)).astype(np.float32)
    labels = z[:, 5] > 0  # "smiling" is dimension 5
    direction = labelled_direction(z, labels)
    assert direction.shape == (12,) and np.argmax(np.abs(direction)) == 5
    assert direction[5] > 0
    with pytest.raises(ValueError, match="at least one"):
        labelled_direction(z, np.zeros(40))
    moved = apply_directions(z[:2], np.stack([direction]), np.array([2.0]))
    np.testing.assert_allclose(moved - z[:2], np.repeat(2.0 * direction[None], 2, 0), atol=1e-5)
