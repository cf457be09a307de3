"""Reference (b): the Radford et al. DCGAN as in pytorch/examples, in Keras with a plain step.

Modelled on the public example (nz 100, ngf = ndf = 64, batch 64): the generator is a 4x4
transposed convolution from z to 4x4x512, then stride-2 4x4 transposed convolutions with
batch norm and ReLU to 8x8x256, 16x16x128, 32x32x64 and a tanh 64x64x3 output; the
discriminator mirrors it with stride-2 4x4 convolutions, LeakyReLU 0.2, batch norm from the
second layer, and a 4x4 valid convolution to one logit. Weights from N(0, 0.02) (batch-norm
scales N(1, 0.02)), Adam 2e-4 / beta1 0.5, BCE with hard labels, real and fake batches
through D separately, the fake batch reused for the generator update. One plain
`tf.function` step, Keras' default layers (no fusion or other tuning). Written for this
benchmark, not copied.

FLOPs per image and iteration: G + 6D (D update) + 2G + 2D (G update, reusing the fakes):
3G + 8D.
"""

from __future__ import annotations

import numpy as np

from bench.references import Reference, image_batches, make_reference

LATENT_DIM = 100
BATCH_SIZE = 64
NGF = NDF = 64
VALUE_RANGE = (-1.0, 1.0)


def _init():
    import keras

    return {"kernel_initializer": keras.initializers.RandomNormal(0.0, 0.02), "use_bias": False}


def _bn():
    import keras
    from keras import layers

    # PyTorch's momentum 0.1 and eps 1e-5, in Keras' convention
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5,
                                     gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02))


def build_generator():
    import keras
    from keras import layers

    stack = [keras.Input(shape=(LATENT_DIM,)), layers.Reshape((1, 1, LATENT_DIM)),
             layers.Conv2DTranspose(NGF * 8, 4, padding="valid", **_init()),  # 4x4x512
             _bn(), layers.ReLU()]
    for filters in (NGF * 4, NGF * 2, NGF):  # 8x8x256, 16x16x128, 32x32x64
        stack += [layers.Conv2DTranspose(filters, 4, strides=2, padding="same", **_init()),
                  _bn(), layers.ReLU()]
    stack += [layers.Conv2DTranspose(3, 4, strides=2, padding="same", **_init()),  # 64x64x3
              layers.Activation("tanh")]
    return keras.Sequential(stack, name="radford_generator")


def build_discriminator():
    import keras
    from keras import layers

    stack = [keras.Input(shape=(64, 64, 3)),
             layers.Conv2D(NDF, 4, strides=2, padding="same", **_init()),  # 32x32x64
             layers.LeakyReLU(negative_slope=0.2)]
    for filters in (NDF * 2, NDF * 4, NDF * 8):  # 16x16x128, 8x8x256, 4x4x512
        stack += [layers.Conv2D(filters, 4, strides=2, padding="same", **_init()), _bn(),
                  layers.LeakyReLU(negative_slope=0.2)]
    stack += [layers.Conv2D(1, 4, padding="valid", **_init()), layers.Flatten()]  # logit
    return keras.Sequential(stack, name="radford_discriminator")


def build(images: np.ndarray, batch_size: int = BATCH_SIZE, seed: int = 0) -> Reference:
    import keras
    import tensorflow as tf


    keras.utils.set_random_seed(seed)
    generator, discriminator = build_generator(), build_discriminator()
    g_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
    d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    batches = image_batches(images, batch_size, seed, VALUE_RANGE)

    @tf.function
    def train_step(real):
        n = tf.shape(real)[0]
        ones, zeros = tf.ones([n, 1]), tf.zeros([n, 1])
        with tf.GradientTape() as g_tape:
            fake = generator(tf.random.normal([n, LATENT_DIM]), training=True)
            with tf.GradientTape() as d_tape:
                d_loss = (bce(ones, discriminator(real, training=True))
                          + bce(zeros, discriminator(tf.stop_gradient(fake), training=True)))
            grads = d_tape.gradient(d_loss, discriminator.trainable_weights)
            d_opt.apply(grads, discriminator.trainable_weights)
            g_loss = bce(ones, discriminator(fake, training=True))  # the updated D
        grads = g_tape.gradient(g_loss, generator.trainable_weights)
        g_opt.apply(grads, generator.trainable_weights)
        return d_loss, g_loss

    return make_reference("Radford (pytorch/examples)", "Radford et al. DCGAN as in "
                          "pytorch/examples: nz 100, 64 filters, Adam 2e-4 / 0.5, batch 64",
                          generator, discriminator, train_step, batches, batch_size,
                          VALUE_RANGE, g_passes=3)
