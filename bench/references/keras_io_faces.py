"""Reference (a): the network and train step of keras-io's "DCGAN to generate face images".

Modelled on the public example: a 128-d latent; a generator Dense -> 8x8x128 followed by
three stride-2 transposed convolutions (128, 256, 512 filters, LeakyReLU 0.2) and a 5x5
sigmoid convolution; a discriminator of three stride-2 4x4 convolutions (64, 128, 128,
LeakyReLU 0.2), dropout 0.2 and a sigmoid unit; Adam 1e-4 for both; binary cross-entropy
with uniform noise (0.05) added to the labels; a fresh latent batch for the generator
update; batch 32; pixels in [0, 1]. Written for this benchmark, not copied.

FLOPs per image and iteration: D update = G forward + D forward/backward on real and fake
(G + 6D); G update = a second G forward, D forward, D backward to its input, G backward
(3G + 2D): 4G + 8D.
"""

from __future__ import annotations

import numpy as np

from bench.references import Reference, image_batches, make_reference

LATENT_DIM = 128
BATCH_SIZE = 32
LEARNING_RATE = 1e-4
LABEL_NOISE = 0.05
VALUE_RANGE = (0.0, 1.0)


def build_generator():
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=(LATENT_DIM,)),
        layers.Dense(8 * 8 * 128),
        layers.Reshape((8, 8, 128)),
        layers.Conv2DTranspose(128, 4, strides=2, padding="same"),  # 16x16x128
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(256, 4, strides=2, padding="same"),  # 32x32x256
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(512, 4, strides=2, padding="same"),  # 64x64x512
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(3, 5, padding="same", activation="sigmoid"),  # 64x64x3
    ], name="keras_io_generator")


def build_discriminator():
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=(64, 64, 3)),
        layers.Conv2D(64, 4, strides=2, padding="same"),  # 32x32x64
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(128, 4, strides=2, padding="same"),  # 16x16x128
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(128, 4, strides=2, padding="same"),  # 8x8x128
        layers.LeakyReLU(negative_slope=0.2),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(1, activation="sigmoid"),
    ], name="keras_io_discriminator")


def build(images: np.ndarray, batch_size: int = BATCH_SIZE, seed: int = 0) -> Reference:
    import keras
    import tensorflow as tf


    keras.utils.set_random_seed(seed)
    generator, discriminator = build_generator(), build_discriminator()
    g_opt = keras.optimizers.Adam(LEARNING_RATE)
    d_opt = keras.optimizers.Adam(LEARNING_RATE)
    bce = keras.losses.BinaryCrossentropy()
    batches = image_batches(images, batch_size, seed, VALUE_RANGE)

    @tf.function
    def train_step(real):
        n = tf.shape(real)[0]
        fake = generator(tf.random.normal([n, LATENT_DIM]))
        mixed = tf.concat([real, fake], axis=0)
        labels = tf.concat([tf.ones([n, 1]), tf.zeros([n, 1])], axis=0)
        labels += LABEL_NOISE * tf.random.uniform(tf.shape(labels))  # as the example does
        with tf.GradientTape() as tape:
            d_loss = bce(labels, discriminator(mixed, training=True))
        grads = tape.gradient(d_loss, discriminator.trainable_weights)
        d_opt.apply(grads, discriminator.trainable_weights)

        with tf.GradientTape() as tape:
            fooled = discriminator(generator(tf.random.normal([n, LATENT_DIM])),
                                   training=True)
            g_loss = bce(tf.ones([n, 1]), fooled)
        grads = tape.gradient(g_loss, generator.trainable_weights)
        g_opt.apply(grads, generator.trainable_weights)
        return d_loss, g_loss

    return make_reference("keras-io faces", "keras-io DCGAN face example: latent 128, "
                          "Adam 1e-4, label noise 0.05, batch 32", generator, discriminator,
                          train_step, batches, batch_size, VALUE_RANGE, g_passes=4)
