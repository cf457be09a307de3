"""dcgan.train.pipeline: batches from the cache, deterministic order and augmentation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from dcgan.data.cache import CacheReader
from dcgan.errors import DatasetError
from dcgan.train.pipeline import (
    CacheRows,
    InputSpec,
    ResidentImages,
    _rotation_transforms,
    augment,
    check_enough,
    epoch_order,
    make_dataset,
    resident_fits,
)


def collect(dataset):
    return [b.numpy() for b in dataset]


def test_batches_shape_range_and_drop_remainder(cache):
    path, images = cache
    spec = InputSpec(batch_size=4, flip=False, shuffle=False)
    batches = collect(make_dataset(path, spec, epochs=1))
    assert len(batches) == 2  # 10 // 4, the last partial batch is dropped
    assert batches[0].shape == (4, 8, 8, 3) and batches[0].dtype == np.float32
    np.testing.assert_allclose(batches[0], images[:4] / 255.0, atol=1e-6)
    tanh = collect(make_dataset(path, InputSpec(batch_size=4, flip=False, shuffle=False,
                                                value_range=(-1.0, 1.0)), epochs=1))
    np.testing.assert_allclose(tanh[1], images[4:8] / 127.5 - 1.0, atol=1e-6)


def test_order_depends_only_on_seed_and_epoch(cache):
    path, _ = cache
    spec = InputSpec(batch_size=3, seed=11)
    full = collect(make_dataset(path, spec, epochs=3))
    assert len(full) == 9
    again = collect(make_dataset(path, spec, epochs=3))
    assert all(np.array_equal(a, b) for a, b in zip(full, again, strict=True))
    # Resuming at epoch 1, batch 2 yields exactly the rest of the uninterrupted stream.
    resumed = collect(make_dataset(path, spec, start_epoch=1, start_batch=2, epochs=2))
    assert all(np.array_equal(a, b) for a, b in zip(full[5:], resumed, strict=True))
    assert not np.array_equal(epoch_order(10, 11, 0), epoch_order(10, 11, 1))
    assert np.array_equal(epoch_order(10, 11, 0, shuffle=False), np.arange(10))


def test_rows_restrict_training_to_a_subset(cache):
    path, images = cache
    spec = InputSpec(batch_size=2, flip=False, shuffle=False)
    rows = np.array([1, 4, 5, 8, 9])  # rows 0, 2, 3, 6, 7 are held out
    batches = collect(make_dataset(path, spec, epochs=1, rows=rows))
    assert len(batches) == 2  # 5 // 2
    np.testing.assert_allclose(np.concatenate(batches), images[[1, 4, 5, 8]] / 255.0,
                               atol=1e-6)
    shuffled = collect(make_dataset(path, InputSpec(batch_size=5, flip=False), epochs=3,
                                    rows=rows))
    for batch in shuffled:  # every epoch is a permutation of exactly those rows
        assert sorted(np.rint(batch[:, 0, 0, 0] * 255).astype(int).tolist()) == \
            sorted(images[rows, 0, 0, 0].tolist())
    with pytest.raises(DatasetError, match="fewer than one batch of 6"):
        make_dataset(path, InputSpec(batch_size=6), rows=rows)


def test_flip_mirrors_some_images_and_keeps_the_rest(cache):
    path, images = cache
    spec = InputSpec(batch_size=10, shuffle=False, flip=True, seed=3)
    [batch] = collect(make_dataset(path, spec, epochs=1))
    restored = np.rint(batch * 255).astype(np.uint8)
    flipped = [np.array_equal(restored[i], images[i, :, ::-1]) for i in range(10)]
    same = [np.array_equal(restored[i], images[i]) for i in range(10)]
    assert all(f or s for f, s in zip(flipped, same, strict=True))
    assert 0 < sum(flipped) < 10


def test_rotation_uses_reflect_padding_no_black_corners():
    constant = tf.fill([4, 16, 16, 3], tf.constant(200, tf.uint8))
    spec = InputSpec(flip=False, rotation_deg=15.0)
    out = augment(constant, tf.constant([1, 2], tf.int64), spec).numpy()
    np.testing.assert_allclose(out, 200 / 255.0, atol=1e-5)


def test_rotation_transform_turns_a_quarter():
    image = np.arange(5 * 5, dtype=np.float32).reshape(1, 5, 5, 1)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image, transforms=_rotation_transforms(tf.constant([math.pi / 2]), 5),
        output_shape=tf.constant([5, 5]), fill_value=0.0, interpolation="NEAREST",
        fill_mode="REFLECT").numpy()
    assert np.array_equal(out[0, :, :, 0], np.rot90(image[0, :, :, 0], k=1)) or \
        np.array_equal(out[0, :, :, 0], np.rot90(image[0, :, :, 0], k=-1))


def test_too_few_images_for_a_batch(cache):
    path, _ = cache
    with pytest.raises(DatasetError, match=r"10 usable image.*fewer than one batch of 16"):
        make_dataset(path, InputSpec(batch_size=16))
    check_enough(16, 16)


@pytest.mark.parametrize("spec", [
    InputSpec(batch_size=4, seed=3, rotation_deg=20.0),
    InputSpec(batch_size=3, seed=5, flip=True, value_range=(-1.0, 1.0))], ids=["rot", "flip"])
def test_resident_batches_equal_the_streamed_ones_bit_for_bit(cache, spec, monkeypatch):
    """From mid-epoch 1 over three epochs, with held-out rows: the same float32 arrays."""
    path, images = cache
    rows = np.array([0, 2, 3, 4, 5, 7, 8, 9])  # 1 and 6 held out
    streamed = collect(make_dataset(path, spec, start_epoch=1, start_batch=1, epochs=3,
                                    rows=rows))
    monkeypatch.setattr(ResidentImages, "CHUNK", 3)  # copied in as 3 + 3 + 2 rows
    resident = ResidentImages(CacheRows(CacheReader(path), rows), spec)
    np.testing.assert_array_equal(resident.images.numpy(), images[rows])
    per_epoch = len(rows) // spec.batch_size

    @tf.function
    def batch(args, i):
        return resident.replica_batch(resident.step_input(args, i))

    gathered = [batch(resident.args(epoch, start), tf.constant(i)).numpy()
                for epoch in (1, 2, 3) for start in [1 if epoch == 1 else 0]
                for i in range(per_epoch - start)]
    assert len(gathered) == len(streamed) == 3 * per_epoch - 1
    for a, b in zip(gathered, streamed, strict=True):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_resident_slices_of_a_global_batch_equal_the_whole_batch_sliced(cache):
    _, images = cache
    spec = InputSpec(batch_size=6, seed=1, rotation_deg=10.0)
    images_t = tf.constant(images[:6])
    seed = tf.constant([1, 7], tf.int64)
    whole = augment(images_t, seed, spec).numpy()
    halves = [augment(images_t[k:k + 3], seed, spec, k, 6).numpy() for k in (0, 3)]
    np.testing.assert_array_equal(np.concatenate(halves), whole)


def test_resident_data_fits_below_a_gibibyte_and_a_quarter_of_free_memory():
    gib = 1 << 30
    assert resident_fits(245 << 20, available=8 * gib)  # 20,000 portraits
    assert not resident_fits(2400 << 20, available=64 * gib)  # 200,000: streamed
    assert not resident_fits(300 << 20, available=1 * gib)  # a quarter of 1 GiB is less
