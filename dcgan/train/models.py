"""Generator and discriminator builders for the two architectures (Keras 3 functional).

Both discriminators return logits (no sigmoid layer): the losses apply the sigmoid inside,
which is the numerically stable form of the seed's "Dense + sigmoid, binary cross-entropy".
`dtype` is a Keras dtype policy ("float32", "mixed_bfloat16", "mixed_float16"); the last
layer of each network always computes in float32.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from dcgan.config import ModelConfig
from dcgan.train.spectral import SpectralConv2D, SpectralDense

IMAGE_SIZE = 64


def _dcgan_init(seed: int):
    return keras.initializers.RandomNormal(0.0, 0.02, seed=seed)


def _gamma_init(seed: int):
    return keras.initializers.RandomNormal(1.0, 0.02, seed=seed)


def build_generator(cfg: ModelConfig, seed: int = 0, dtype: str = "float32") -> keras.Model:
    """z (N, latent_dim) -> image (N, 64, 64, 3) in [-1, 1] (tanh) or [0, 1] (sigmoid)."""
    start = IMAGE_SIZE // 2**cfg.g_depth
    top = cfg.g_filters * 2 ** (cfg.g_depth - 1)
    paper = cfg.arch == "dcgan"
    init = _dcgan_init(seed) if paper else "glorot_uniform"
    use_bias = cfg.g_norm == "none"

    z = keras.Input((cfg.latent_dim,), name="z")
    x = layers.Dense(start * start * top, use_bias=use_bias, kernel_initializer=init,
                     dtype=dtype, name="project")(z)
    x = layers.Reshape((start, start, top), name="to_3d")(x)
    # state size: (g_filters * 2**(depth-1)) x start x start, e.g. 512 x 4 x 4
    x = _g_norm_act(x, cfg, seed, dtype, "block0")
    filters = top
    for i in range(1, cfg.g_depth):
        filters //= 2
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=use_bias,
                                   kernel_initializer=init, dtype=dtype, name=f"up{i}")(x)
        # state size: filters x (start * 2**i) x (start * 2**i)
        x = _g_norm_act(x, cfg, seed + i, dtype, f"block{i}")
    x = layers.Conv2DTranspose(3, 4, strides=2, padding="same", kernel_initializer=init,
                               dtype=dtype, name="to_rgb")(x)
    # state size: 3 x 64 x 64
    out = layers.Activation(cfg.output, dtype="float32", name=cfg.output)(x)
    return keras.Model(z, out, name="generator")


def _g_norm_act(x, cfg: ModelConfig, seed: int, dtype: str, name: str):
    if cfg.g_norm == "batch":
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True,
                                      gamma_initializer=_gamma_init(seed), dtype=dtype,
                                      name=f"{name}_bn")(x)
    return layers.ReLU(dtype=dtype, name=f"{name}_relu")(x)


def _d_norm(x, kind: str, seed: int, dtype: str, name: str):
    if kind == "batch":
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True,
                                         gamma_initializer=_gamma_init(seed), dtype=dtype,
                                         name=f"{name}_bn")(x)
    if kind == "layer":
        return layers.LayerNormalization(axis=(1, 2, 3), dtype=dtype, name=f"{name}_ln")(x)
    return x


def _d_conv(cfg: ModelConfig, *args, **kwargs):
    """Conv2D, spectrally normalised when d_norm is "spectral" (which then has no other norm)."""
    return (SpectralConv2D if cfg.d_norm == "spectral" else layers.Conv2D)(*args, **kwargs)


def build_discriminator(cfg: ModelConfig, seed: int = 0, dtype: str = "float32") -> keras.Model:
    """image (N, 64, 64, 3) -> logit (N, 1); real images should score high."""
    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    if cfg.arch == "ml241":
        x = image
        filters = cfg.d_filters
        for i in range(4):
            x = _d_conv(cfg, filters, 3, padding="same", dtype=dtype, name=f"conv{i}")(x)
            x = _d_norm(x, cfg.d_norm, seed + i, dtype, f"block{i}")
            x = layers.LeakyReLU(0.2, dtype=dtype, name=f"block{i}_lrelu")(x)
            x = layers.MaxPooling2D(2, dtype=dtype, name=f"pool{i}")(x)
            # state size: filters x (32 / 2**i) x (32 / 2**i)
            filters *= 2
        if cfg.d_mbstd:
            x = _mbstd(cfg, x, filters // 2, dtype)
        x = layers.Flatten(dtype=dtype, name="flatten")(x)
        dense = SpectralDense if cfg.d_norm == "spectral" else layers.Dense
        logit = dense(1, dtype="float32", name="logit")(x)
        return keras.Model(image, logit, name="discriminator")

    init = _dcgan_init(seed)
    x = _d_conv(cfg, cfg.d_filters, 4, strides=2, padding="same", use_bias=False,
                kernel_initializer=init, dtype=dtype, name="down0")(image)
    x = layers.LeakyReLU(0.2, dtype=dtype, name="block0_lrelu")(x)
    # state size: d_filters x 32 x 32 (no normalisation on the first layer, as in the paper)
    filters = cfg.d_filters
    for i in range(1, 4):
        filters *= 2
        x = _d_conv(cfg, filters, 4, strides=2, padding="same",
                    use_bias=cfg.d_norm in ("none", "spectral"), kernel_initializer=init,
                    dtype=dtype, name=f"down{i}")(x)
        x = _d_norm(x, cfg.d_norm, seed + i, dtype, f"block{i}")
        x = layers.LeakyReLU(0.2, dtype=dtype, name=f"block{i}_lrelu")(x)
        # state size: filters x (32 / 2**i) x (32 / 2**i), ending at (8 d_filters) x 4 x 4
    if cfg.d_mbstd:
        x = _mbstd(cfg, x, filters, dtype, init)
        # state size: 8 d_filters (+ 1 with the linear head) x 4 x 4
    x = _d_conv(cfg, 1, 4, padding="valid", kernel_initializer=init, dtype="float32",
                name="logit_conv")(x)
    logit = layers.Reshape((1,), dtype="float32", name="logit")(x)
    return keras.Model(image, logit, name="discriminator")


def _mbstd(cfg: ModelConfig, x, filters: int, dtype: str, init=None):
    """The minibatch-stddev channel and what reads it (ModelConfig.d_mbstd_head).

    Straight into a linear logit, the channel (one number per group, the same at every
    position) can only add a content-independent term to D's score; ProGAN follows it with
    a 3x3 conv and a nonlinearity, so D can weigh variety against what it sees ("conv").
    "conv1x1" does that at each position alone: a ninth of the 3x3's multiply-adds.
    """
    x = MinibatchStddev(cfg.d_mbstd, dtype=dtype, name="mbstd")(x)
    if cfg.d_mbstd_head in ("conv", "conv1x1"):
        size = 3 if cfg.d_mbstd_head == "conv" else 1
        x = _d_conv(cfg, filters, size, padding="same", dtype=dtype, name="mbstd_conv",
                    **({"kernel_initializer": init} if init is not None else {}))(x)
        x = layers.LeakyReLU(0.2, dtype=dtype, name="mbstd_lrelu")(x)
    return x


@keras.saving.register_keras_serializable(package="dcgan")
class MinibatchStddev(layers.Layer):
    """Appends one channel: how much the images of a small group differ (Karras et al. 2018).

    The batch is split into groups of `group_size` images taken with a stride (image i is
    grouped with i + N/G, i + 2N/G, ...); for each group the standard deviation of every
    feature over its images is averaged into one number, broadcast as an extra feature map
    to the group's images. A generator that makes near-identical images gives its batches a
    telling low value, so the discriminator can see a lack of variety that no single image
    shows. A batch not divisible by the group size is one group. Computed in float32.
    """

    def __init__(self, group_size: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size)

    def call(self, x):
        n = ops.shape(x)[0]
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        g = ops.where(ops.equal(n % self.group_size, 0), self.group_size, n)
        y = ops.reshape(ops.cast(x, "float32"), (g, -1, h, w, c))  # (G, N/G, H, W, C)
        std = ops.sqrt(ops.var(y, axis=0) + 1e-8)  # (N/G, H, W, C)
        per_group = ops.mean(std, axis=(1, 2, 3))  # (N/G,)
        feature = ops.tile(per_group, (g,))[:, None, None, None]  # image i -> group i mod N/G
        feature = ops.cast(ops.broadcast_to(feature, (n, h, w, 1)), x.dtype)
        return ops.concatenate([x, feature], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size}


def conv_flops(model: keras.Model) -> int:
    """Multiply-adds x 2 of one forward pass for one example (Dense and conv layers only)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
        elif isinstance(layer, layers.Conv2DTranspose):
            kh, kw, out_c, in_c = layer.kernel.shape
            _, h, w, _ = layer.input.shape  # each input pixel scatters a kernel
            total += 2 * h * w * kh * kw * in_c * out_c
        elif isinstance(layer, layers.Conv2D):
            kh, kw, in_c, out_c = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * h * w * kh * kw * in_c * out_c
    return int(total)
