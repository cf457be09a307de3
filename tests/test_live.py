"""The generator's description for the browser (dcgan.explore.live): folded weights, same pixels."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.config import ModelConfig
from dcgan.explore.export import load_demo_generator
from dcgan.explore.latent import z_from_seeds
from dcgan.explore.live import NotLive, describe, forward
from dcgan.train.models import build_generator
from tests.conftest import odd_generator


def keras_images(model, z: np.ndarray) -> np.ndarray:
    return np.asarray(model(z, training=False), np.float32)


def test_the_demo_is_described_with_batch_norm_folded_and_the_same_outputs():
    demo = load_demo_generator()
    description = describe(demo.model)
    kinds = [op["op"] for op in description.ops]
    assert kinds == ["dense", "reshape", "act", "convt", "act", "convt", "act", "convt", "act",
                     "convt", "act"]  # no batch norm left: folded into dense / convt
    assert [op["fn"] for op in description.ops if op["op"] == "act"] == ["relu"] * 4 + ["tanh"]
    assert description.latent_dim == 64
    assert 25e6 < description.multiply_adds < 30e6  # the ~27 M of the issue
    z = z_from_seeds(list(range(4)), 64)
    expected = keras_images(demo.model, z)
    got = np.stack([forward(description, v) for v in z])
    assert np.abs(got - expected).max() < 1e-4  # of a [-1, 1] range: far below 1/255


@pytest.mark.parametrize("overrides", [dict(arch="ml241", g_norm="none", output="sigmoid"),
                                       dict(arch="dcgan", g_norm="batch", g_depth=3)])
def test_other_members_of_the_family(overrides):
    cfg = ModelConfig(**{"latent_dim": 16, "g_filters": 8, **overrides})
    model = build_generator(cfg, seed=3)
    # trained-looking batch-norm statistics, so that folding them is really tested
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if i in (0, 3) else
                               rng.normal(0, 0.3, w.shape) for i, w in
                               enumerate(layer.get_weights())])
    description = describe(model)
    z = z_from_seeds([5, 6], 16)
    got = np.stack([forward(description, v) for v in z])
    assert np.abs(got - keras_images(model, z)).max() < 1e-4


def test_other_shapes_are_refused_with_the_reason():
    import keras

    z = keras.Input((8,))
    x = keras.layers.Dense(64 * 64 * 3)(z)
    x = keras.layers.Reshape((64, 64, 3))(x)
    conv = keras.Model(z, keras.layers.Conv2D(3, 3, padding="same")(x))
    with pytest.raises(NotLive, match=r"\(Conv2D\) is not of the DCGAN generator family"):
        describe(conv)
    wrong = keras.Model(z, keras.layers.Reshape((32, 32, 12))(keras.layers.Dense(32 * 32 * 12)(z)))
    with pytest.raises(NotLive, match=r"ends at \(32, 32, 12\)"):
        describe(wrong)


def test_odd_kernels_strides_padding_and_channel_counts():
    model = odd_generator()
    description = describe(model)
    convs = [(op["size"], op["stride"], op["pad"], op["out"]) for op in description.ops
             if op["op"] == "convt"]
    assert convs == [(5, 2, 1, [8, 8, 6]), (2, 2, 0, [16, 16, 5]), (3, 2, 0, [32, 32, 7]),
                     (4, 2, 1, [64, 64, 3])]
    z = z_from_seeds([1, 2, 3], 10)
    got = np.stack([forward(description, v) for v in z])
    assert np.abs(got - keras_images(model, z)).max() < 1e-4
