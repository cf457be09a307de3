"""dcgan.quality.metrics: SWD on Laplacian pyramids, MS-SSIM diversity, splits, nearest images."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.quality import metrics
from tests.conftest import blurred


def test_pyramid_levels_and_reconstruction(portraits):
    levels = metrics.laplacian_pyramid(portraits[:4])
    assert [lv.shape for lv in levels] == [(4, 64, 64, 3), (4, 32, 32, 3), (4, 16, 16, 3)]
    # band-pass levels hold detail around 0; the low-pass level keeps the mean colour
    assert abs(levels[0].mean()) < 2 and abs(levels[1].mean()) < 2
    assert levels[2].mean() == pytest.approx(portraits[:4].mean(), abs=2)
    # collapsing the pyramid gives the image back
    image = levels[2]
    for band in (levels[1], levels[0]):
        image = metrics._upsample(image) + band
    np.testing.assert_allclose(image, portraits[:4].astype(np.float32), atol=1e-3)


def test_descriptors_are_patches_normalised_per_channel(portraits):
    level = metrics.laplacian_pyramid(portraits[:10])[0]
    desc = metrics.patch_descriptors(level, np.random.default_rng(0))
    assert desc.shape == (10 * 128, 7 * 7 * 3)
    per_channel = desc.reshape(-1, 49, 3)
    np.testing.assert_allclose(per_channel.mean(axis=(0, 1)), 0, atol=1e-4)
    np.testing.assert_allclose(per_channel.std(axis=(0, 1)), 1, atol=1e-3)


def test_one_dimensional_case_is_the_wasserstein_distance():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5000, 1)).astype(np.float32)
    # every direction in 1-D is +-1, so SWD = W1(a, a + 0.5) = 0.5 exactly
    assert metrics.sliced_wasserstein(a, a + 0.5, rng, directions=4, repeats=2) == \
        pytest.approx(0.5, abs=1e-5)


def test_identical_sets_give_zero_and_real_halves_a_small_floor(portraits):
    a, b = portraits[:96], portraits[96:]
    assert metrics.swd(a, a)["swd"] == 0.0
    floor = metrics.swd(a, b)
    assert set(floor) == {"swd_64", "swd_32", "swd_16", "swd"}
    assert floor["swd"] == pytest.approx(np.mean([floor["swd_64"], floor["swd_32"],
                                                  floor["swd_16"]]))
    assert 0 < floor["swd"] < 40


@pytest.mark.parametrize("change", ["blur", "shift", "noise", "collapse"])
def test_a_changed_set_is_much_further_than_the_floor(portraits, change):
    a, b = portraits[:96], portraits[96:]
    changed = {
        "blur": lambda: blurred(b, 1.0),
        "shift": lambda: np.roll(b, 8, axis=2),
        "noise": lambda: np.clip(b + np.random.default_rng(1).normal(0, 12, b.shape), 0,
                                 255).astype(np.uint8),
        "collapse": lambda: np.repeat(b[:3], 32, axis=0),
    }[change]()
    # at 96 images the floor is ~28 (the estimate is biased upwards on small samples); a
    # 1-pixel blur or an 8-pixel shift scores ~50
    assert metrics.swd(a, changed)["swd"] > 1.6 * metrics.swd(a, b)["swd"]


def test_more_blur_is_further(portraits):
    a, b = portraits[:96], portraits[96:]
    light, heavy = metrics.swd(a, blurred(b, 0.7))["swd"], metrics.swd(a, blurred(b, 1.5))["swd"]
    assert light < heavy


def test_swd_is_stable_across_seeds_within_ten_percent(portraits):
    a, b = portraits[:96], blurred(portraits[96:], 1.0)
    values = [metrics.swd(a, b, seed)["swd"] for seed in range(4)]
    assert len(set(values)) == 4  # the seed changes patches and directions...
    assert (max(values) - min(values)) / np.mean(values) < 0.10  # ...but not the verdict
    assert metrics.swd(a, b, 3) == metrics.swd(a, b, 3)


def test_unequal_sets_are_subsampled_and_tiny_sets_refused(portraits):
    assert metrics.swd(portraits[:96], portraits[96:150])["swd"] > 0
    with pytest.raises(ValueError, match="at least 2"):
        metrics.swd(portraits[:1], portraits[1:5])


def test_ms_ssim_diversity_ranks_collapse_above_real(portraits):
    real = metrics.ms_ssim_diversity(portraits[:96], pairs=200)
    collapsed = metrics.ms_ssim_diversity(np.repeat(portraits[:2], 48, axis=0), pairs=200)
    same = metrics.ms_ssim_diversity(np.repeat(portraits[:1], 8, axis=0), pairs=20)
    assert 0.0 < real < 0.6
    assert collapsed > real + 0.2
    assert same == pytest.approx(1.0, abs=1e-4)


def test_default_tf_ms_ssim_fails_on_64px_which_is_why_we_adjust():
    import tensorflow as tf

    x = tf.zeros([2, 64, 64, 3])
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.image.ssim_multiscale(x, x, 255.0)
    assert sum(metrics.MS_SSIM_WEIGHTS) == pytest.approx(1.0)
    assert 64 // 2 ** (len(metrics.MS_SSIM_WEIGHTS) - 1) >= metrics.MS_SSIM_FILTER


@pytest.mark.parametrize("change", ["other-portraits", "noise"])
def test_ms_ssim_is_tensorflows_computation(portraits, change):
    """The NumPy MS-SSIM gives tf.image.ssim_multiscale's values (our filter and weights)."""
    import tensorflow as tf

    a = portraits[:40]
    b = portraits[40:80] if change == "other-portraits" else np.clip(
        a.astype(int) + np.random.default_rng(0).integers(-60, 60, a.shape), 0, 255
    ).astype(np.uint8)
    expected = tf.image.ssim_multiscale(
        tf.constant(a, tf.float32), tf.constant(b, tf.float32), max_val=255.0,
        power_factors=metrics.MS_SSIM_WEIGHTS, filter_size=metrics.MS_SSIM_FILTER).numpy()
    got = metrics.ms_ssim(a, b)
    assert got.shape == (40,) and np.ptp(expected) > 0.1  # varied pairs, not one value
    # float32 both: a pair whose coarse-scale term is near 0 (raised to a small power)
    # differs by ~1e-4; the mean over pairs, what diversity reports, by ~1e-6
    np.testing.assert_allclose(got, expected, atol=5e-4)
    assert abs(got.mean() - expected.mean()) < 2e-5
    np.testing.assert_allclose(metrics.ms_ssim(a, a), 1.0, atol=1e-5)


def test_random_pairs_are_distinct():
    pairs = metrics.random_pairs(3, 500, np.random.default_rng(0))
    assert pairs.shape == (500, 2) and (pairs[:, 0] != pairs[:, 1]).all()
    assert set(pairs.ravel()) == {0, 1, 2}


def test_few_images_average_every_distinct_pair_once(portraits):
    every = metrics.diversity_pairs(8, 1000, np.random.default_rng(0))
    assert every.shape == (28, 2) and (every[:, 0] < every[:, 1]).all()
    assert len({tuple(p) for p in every}) == 28
    assert metrics.diversity_pairs(8, 27, np.random.default_rng(0)).shape == (27, 2)  # drawn
    images = portraits[:8]
    first, second = np.triu_indices(8, 1)
    exact = metrics.ms_ssim(images[first], images[second]).mean()
    assert metrics.ms_ssim_diversity(images) == pytest.approx(exact, abs=1e-6)
    assert metrics.ms_ssim_diversity(images, seed=5) == metrics.ms_ssim_diversity(images)


def test_describe_is_one_readable_line():
    text = metrics.describe({"swd": 41.23, "swd_floor": 9.8, "ms_ssim": 0.21,
                             "ms_ssim_real": 0.18})
    assert text == "SWD 41.2 (floor 9.8), MS-SSIM 0.210 (real 0.180)"
    text = metrics.describe({"swd": 41.23, "swd_floor": 9.8, "color_dist": 6.04,
                             "color_dist_floor": 1.5, "ms_ssim": 0.21, "ms_ssim_real": 0.18})
    assert text == "SWD 41.2 (floor 9.8), colour 6.0 (floor 1.5), MS-SSIM 0.210 (real 0.180)"


def test_colour_distance_sees_tints_that_swd_normalises_away(portraits):
    real_a, real_b = portraits[:96], portraits[96:]
    floor = metrics.color_distance(real_a, real_b)
    assert metrics.color_distance(real_a, real_a) == 0.0
    tinted = np.clip(real_b.astype(int) * [1.0, 0.8, 1.2] + [0, 0, 20], 0, 255).astype(np.uint8)
    washed = (128 + (real_b.astype(int) - 128) * 0.5).astype(np.uint8)
    assert metrics.color_distance(real_a, tinted) > 3 * floor
    assert metrics.color_distance(real_a, washed) > 3 * floor
    # SWD's per-set normalisation hides the same changes almost entirely
    swd_floor = metrics.swd(real_a, real_b)["swd"]
    assert metrics.swd(real_a, washed)["swd"] < 1.5 * swd_floor
