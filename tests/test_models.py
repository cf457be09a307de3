"""dcgan.train.models: every preset's networks build, with the documented shapes and ranges."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from dcgan.config import preset
from dcgan.train.models import MinibatchStddev, build_discriminator, build_generator, conv_flops


@pytest.mark.parametrize("name", ["ml241", "dcgan", "wgan-gp"])
def test_generator_output_shape_and_range(name):
    cfg = preset(name).model
    g = build_generator(cfg, seed=1)
    z = np.random.default_rng(0).standard_normal((5, cfg.latent_dim)).astype(np.float32) * 3
    out = g(z, training=False).numpy()
    assert out.shape == (5, 64, 64, 3) and out.dtype == np.float32
    lo, hi = preset(name).value_range
    assert out.min() >= lo and out.max() <= hi
    assert out.std() > 0


@pytest.mark.parametrize("name", ["ml241", "dcgan", "wgan-gp"])
def test_discriminator_gives_one_logit_per_image(name):
    d = build_discriminator(preset(name).model, seed=2)
    out = d(np.zeros((3, 64, 64, 3), np.float32), training=False).numpy()
    assert out.shape == (3, 1)


def test_ml241_structure_follows_the_seed():
    cfg = preset("ml241").model
    g = build_generator(cfg)
    kinds = [type(layer).__name__ for layer in g.layers]
    assert kinds[1] == "Dense" and kinds.count("Conv2DTranspose") == 4
    assert g.get_layer("project").output.shape[1:] == (4 * 4 * 512,)
    assert g.get_layer("to_3d").output.shape[1:] == (4, 4, 512)
    assert g.layers[-1].name == "sigmoid"
    d = build_discriminator(cfg)
    d_kinds = [type(layer).__name__ for layer in d.layers]
    assert d_kinds.count("MaxPooling2D") == 4 and d_kinds.count("LeakyReLU") == 4
    assert d_kinds[-1] == "Dense"


def test_dcgan_follows_the_paper():
    cfg = preset("dcgan").model
    g = build_generator(cfg)
    assert [g.get_layer(f"up{i}").output.shape[1:] for i in (1, 2, 3)] == \
        [(8, 8, 256), (16, 16, 128), (32, 32, 64)]
    weights = g.get_layer("up1").kernel.numpy()
    assert abs(weights.std() - 0.02) < 0.002 and abs(weights.mean()) < 0.002
    d = build_discriminator(cfg)
    assert d.get_layer("down3").output.shape[1:] == (4, 4, 512)
    assert not any(type(layer).__name__ == "BatchNormalization" for layer in d.layers[:3])


def test_adjustable_depth_and_filters():
    cfg = preset("dcgan").model
    cfg.g_depth, cfg.g_filters, cfg.latent_dim = 3, 16, 32
    g = build_generator(cfg)
    assert g.get_layer("to_3d").output.shape[1:] == (8, 8, 64)
    assert g(np.zeros((1, 32), np.float32)).shape == (1, 64, 64, 3)


def test_wgan_critic_uses_layer_norm():
    d = build_discriminator(preset("wgan-gp").model)
    kinds = {type(layer).__name__ for layer in d.layers}
    assert "LayerNormalization" in kinds and "BatchNormalization" not in kinds


def test_conv_flops_by_hand():
    import keras
    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, padding="same")(inp)  # 2*8*8*3*3*2*4 = 9216
    x = keras.layers.Conv2DTranspose(1, 2, strides=2)(x)  # 2*8*8*2*2*4*1 = 2048
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(3)(x)  # 2*256*3 = 1536
    assert conv_flops(keras.Model(inp, x)) == 9216 + 2048 + 1536


def test_mixed_precision_keeps_float32_outputs():
    cfg = preset("dcgan").model
    g = build_generator(cfg, dtype="mixed_bfloat16")
    out = g(np.zeros((2, 100), np.float32))
    assert out.dtype == tf.float32
    assert g.get_layer("up1").compute_dtype == "bfloat16"


def test_minibatch_stddev_by_hand():
    # 8 images in groups of 4 taken with stride 2: group 0 = images 0, 2, 4, 6
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 2, 2, 3)).astype(np.float32)
    out = np.asarray(MinibatchStddev(4)(x))
    assert out.shape == (8, 2, 2, 4)
    np.testing.assert_array_equal(out[..., :3], x)
    for group in (0, 1):
        expected = np.sqrt(x[group::2].var(axis=0) + 1e-8).mean()
        for i in range(group, 8, 2):
            np.testing.assert_allclose(out[i, ..., 3], expected, rtol=1e-5)
    # identical images -> feature ~0; a batch of 6 is not divisible by 4: one group of 6
    same = np.repeat(x[:1], 6, axis=0)
    np.testing.assert_allclose(np.asarray(MinibatchStddev(4)(same))[..., 3], 1e-4, atol=1e-6)
    out6 = np.asarray(MinibatchStddev(4)(x[:6]))
    np.testing.assert_allclose(out6[..., 3], np.sqrt(x[:6].var(axis=0) + 1e-8).mean(),
                               rtol=1e-5)


@pytest.mark.parametrize("arch", ["ml241", "dcgan"])
def test_minibatch_stddev_in_the_discriminator_saves_and_loads(arch, tmp_path):
    import keras

    cfg = preset(arch).model
    cfg.d_mbstd, cfg.d_norm = 4, "spectral"
    d = build_discriminator(cfg, dtype="mixed_bfloat16")
    assert d.get_layer("mbstd").group_size == 4
    x = np.random.default_rng(1).uniform(-1, 1, (8, 64, 64, 3)).astype(np.float32)
    assert d(x).shape == (8, 1)
    d.save(tmp_path / "d.keras")
    loaded = keras.saving.load_model(tmp_path / "d.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(d(x)), atol=1e-2)


@pytest.mark.parametrize("arch", ["ml241", "dcgan"])
def test_the_stddev_channel_is_read_by_a_conv_unless_an_older_run_asks_for_the_linear_head(
        arch):
    """ProGAN's placement: the stddev channel goes through a 3x3 conv and a LeakyReLU, so
    D's score can depend on it jointly with the content; the linear head (runs written
    before) feeds it straight to the logit, where it can only shift every score alike."""
    cfg = preset(arch).model
    cfg.d_mbstd = 4
    d = build_discriminator(cfg)
    conv = d.get_layer("mbstd_conv")
    assert conv.input.shape[-1] == d.get_layer("mbstd").input.shape[-1] + 1
    assert conv.kernel.shape[:2] == (3, 3) and d.get_layer("mbstd_lrelu") is not None
    cfg.d_mbstd_head = "conv1x1"  # the same read at each position alone
    pointwise = build_discriminator(cfg)
    assert pointwise.get_layer("mbstd_conv").kernel.shape[:2] == (1, 1)
    assert pointwise.get_layer("mbstd_lrelu") is not None
    cfg.d_mbstd_head = "linear"
    linear = build_discriminator(cfg)
    assert "mbstd_conv" not in [layer.name for layer in linear.layers]
    assert d.count_params() > pointwise.count_params() > linear.count_params()
