"""dcgan.train.ema: the averaging factor and the copy's weights against their closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.config import ModelConfig
from dcgan.train.ema import EmaGenerator, ema_beta
from dcgan.train.models import build_generator

CFG = ModelConfig(latent_dim=8, g_filters=4)


def test_beta_halves_the_gap_after_half_life_images_and_ramps_up():
    beta = ema_beta(10**9, 64, 6400)
    assert beta ** (6400 / 64) == pytest.approx(0.5)
    assert ema_beta(10**9, 64, 0) == 0.0
    assert ema_beta(0, 64, 6400, rampup=0.05) == 0.0  # nothing seen: copy the generator
    assert ema_beta(64_000, 64, 6400, rampup=0.05) == pytest.approx(0.5 ** (64 / 3200))
    assert ema_beta(10**7, 64, 6400, rampup=0.05) == pytest.approx(beta)


def test_updates_follow_the_closed_form_for_fixed_generator_weights():
    generator = build_generator(CFG, seed=0)
    ema = EmaGenerator(generator, build_generator(CFG, seed=5))
    start = [w.copy() for w in ema.model.get_weights()]
    np.testing.assert_array_equal(start[0], generator.get_weights()[0])  # starts as a copy
    target = [w + 1.0 for w in start]
    generator.set_weights(target)
    beta = 0.9
    for _ in range(7):
        ema.update(beta)
    for e, s, t in zip(ema.model.get_weights(), start, target, strict=True):
        np.testing.assert_allclose(e, t + (s - t) * beta ** 7, rtol=1e-5, atol=1e-5)


def test_beta_zero_copies_everything_batch_norm_statistics_included():
    generator = build_generator(CFG, seed=0)
    ema = EmaGenerator(generator, build_generator(CFG, seed=5))
    z = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    generator(z, training=True)  # moves the moving statistics
    ema.update(0.0)
    names = [w.path for w in ema.model.weights]
    assert any("moving_mean" in n for n in names)
    np.testing.assert_array_equal(ema.model(z, training=False).numpy(),
                                  generator(z, training=False).numpy())


def test_a_copy_of_another_architecture_is_refused():
    with pytest.raises(ValueError, match="do not match"):
        EmaGenerator(build_generator(CFG), build_generator(ModelConfig(latent_dim=9,
                                                                       g_filters=4)))
