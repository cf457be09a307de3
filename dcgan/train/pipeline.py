"""tf.data input from the prepared cache: shuffle, augment, scale, batch, prefetch.

Rows come from the cache through dcgan.data.cache.CacheReader (positional reads, flat
memory), or from memory when they fit (ResidentImages). Order and augmentation depend only
on (seed, epoch, batch index), so a resumed run sees exactly the batches an uninterrupted
one would have seen.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dcgan.data.cache import CacheReader
from dcgan.errors import DatasetError, DcganError


def check_enough(count: int, batch_size: int, name: str = "the dataset") -> None:
    """Refuse to train when there is not one full batch of images."""
    if count < batch_size:
        raise DatasetError(
            f"{name} has {count} usable image(s), fewer than one batch of {batch_size}: "
            "add images or lower the batch size (see the import report for skipped files)"
        )


@dataclass(frozen=True)
class InputSpec:
    """How batches are drawn and augmented; mirrors the data part of the training config."""

    batch_size: int = 64
    seed: int = 0
    value_range: tuple[float, float] = (0.0, 1.0)  # (0, 1) for sigmoid, (-1, 1) for tanh
    flip: bool = True
    rotation_deg: float = 0.0  # max absolute angle; 0 turns rotation off
    shuffle: bool = True


def input_spec(config) -> InputSpec:
    """The InputSpec a training Config asks for (batch, seed, pixel range, augmentation)."""
    return InputSpec(batch_size=config.train.batch_size, seed=config.train.seed,
                     value_range=config.value_range, flip=config.data.flip,
                     rotation_deg=config.data.rotation_deg)


def batches_per_epoch(count: int, batch_size: int) -> int:
    return count // batch_size


def epoch_order(count: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The row order of one epoch: a permutation that depends only on (seed, epoch)."""
    if not shuffle:
        return np.arange(count)
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(count)


def _index_batches(count: int, spec: InputSpec, start_epoch: int, start_batch: int,
                   epochs: int | None,
                   steps_per_epoch: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    per_epoch = batches_per_epoch(count, spec.batch_size)
    if steps_per_epoch:
        per_epoch = min(per_epoch, steps_per_epoch)
    epoch = start_epoch
    while epochs is None or epoch < start_epoch + epochs:
        order = epoch_order(count, spec.seed, epoch, spec.shuffle)
        for b in range(start_batch if epoch == start_epoch else 0, per_epoch):
            rows = order[b * spec.batch_size:(b + 1) * spec.batch_size]
            yield rows, np.array(batch_seed(spec.seed, epoch, b), dtype=np.int64)
        epoch += 1


def _rotation_transforms(angles, size: int):
    """Projective transforms (B, 8) that rotate each image about its centre by `angles`."""
    import tensorflow as tf

    c = (size - 1) / 2.0
    cos, sin = tf.cos(angles), tf.sin(angles)
    zeros = tf.zeros_like(angles)
    # Output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2).
    return tf.stack([cos, -sin, c - c * cos + c * sin, sin, cos, c - c * sin - c * cos,
                     zeros, zeros], axis=1)


def augment(images, seed, spec: InputSpec, offset=0, total: int | None = None):
    """uint8 (B, H, W, 3) -> float32 in spec.value_range, flipped/rotated per `seed` (2,).

    The random draws are made for a batch of `total` images (default B) and rows
    [offset, offset + B) of them are used: a replica augmenting its slice of the global batch
    does exactly what augmenting the whole batch and slicing would.
    """
    import tensorflow as tf

    x = tf.cast(images, tf.float32)
    batch = tf.shape(x)[0]
    drawn = batch if total is None else total

    def draws(draw_seed, **bounds):
        return tf.random.stateless_uniform([drawn], seed=draw_seed, **bounds)[
            offset:offset + batch]

    if spec.flip:
        flip = draws(seed) < 0.5
        x = tf.where(flip[:, None, None, None], tf.reverse(x, axis=[2]), x)
    if spec.rotation_deg > 0:
        limit = math.radians(spec.rotation_deg)
        rotation_seed = seed + tf.constant([0, 1], seed.dtype)  # independent of the flip
        angles = draws(rotation_seed, minval=-limit, maxval=limit)
        size = x.shape[1]
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=_rotation_transforms(angles, size),
            output_shape=tf.constant([size, size]), fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT")
    lo, hi = spec.value_range
    return x * ((hi - lo) / 255.0) + lo


def batch_seed(seed: int, epoch, batch):
    """The (2,) stateless seed that augments batch `batch` of epoch `epoch`."""
    return [seed, epoch * 1_000_003 + batch]


def make_dataset(cache_path: str | os.PathLike[str], spec: InputSpec, *, start_epoch: int = 0,
                 start_batch: int = 0, epochs: int | None = None, steps_per_epoch: int = 0,
                 rows: np.ndarray | None = None):
    """A tf.data.Dataset of float32 (batch, H, W, 3) batches from images.npy.

    Full batches only (drop_remainder); `epochs=None` repeats forever; `steps_per_epoch`
    > 0 caps an epoch at that many batches. Starting at (start_epoch, start_batch)
    continues a run exactly where it stopped. `rows` restricts training to those cache rows
    (the others are held out for evaluation); None uses every row.
    """
    import tensorflow as tf

    reader = CacheReader(cache_path)
    train_rows = np.arange(len(reader)) if rows is None else np.asarray(rows)
    check_enough(len(train_rows), spec.batch_size)
    height, width = reader.shape[1:3]

    def gen():
        for picked, seed in _index_batches(len(train_rows), spec, start_epoch, start_batch,
                                           epochs, steps_per_epoch):
            yield reader.read(train_rows[picked]), seed

    signature = (tf.TensorSpec((spec.batch_size, height, width, 3), tf.uint8),
                 tf.TensorSpec((2,), tf.int64))
    dataset = tf.data.Dataset.from_generator(gen, output_signature=signature)
    dataset = dataset.map(lambda images, seed: augment(images, seed, spec),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


# Training images held in memory (ResidentImages) up to this size and a quarter of the
# memory available; larger sets are streamed with pread (make_dataset).
RESIDENT_MAX_BYTES = 1 << 30


def available_memory() -> int:
    """Bytes of memory available to new allocations (psutil), or 0 when unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # no psutil or no /proc: treat as unknown
        return 0


def resident_fits(nbytes: int, available: int | None = None) -> bool:
    """Whether a cache of `nbytes` is held in memory under `--resident-data auto`."""
    available = available_memory() if available is None else available
    return nbytes <= min(RESIDENT_MAX_BYTES, available // 4)


class CacheRows:
    """Rows `rows` of a cache as a sliceable (N, H, W, 3) sequence, read when sliced."""

    def __init__(self, reader: CacheReader, rows: np.ndarray):
        self.reader, self.rows = reader, np.asarray(rows)
        self.shape = (len(self.rows), *reader.shape[1:])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, part: slice) -> np.ndarray:
        return self.reader.read(self.rows[part])


class ResidentImages:
    """The training rows as one uint8 tensor in memory; batches gathered inside the step.

    The batches equal make_dataset's bit for bit: the same (seed, epoch) order, the same
    per-batch seed, the same augmentation (each replica gathers and augments its own slice
    of the global batch). The images stay in host memory (one variable on the CPU); on a GPU
    each step's gather is a device copy inside the compiled loop, not a Python round trip.
    Used by GanTrainer.train_steps as a batch source: `args(epoch, batch)` are the arguments
    of a call, `step_input` runs per step, `replica_batch` per replica.
    """

    CHUNK = 2048  # rows copied in at a time: peak memory is the set plus one chunk

    def __init__(self, images, spec: InputSpec):
        """`images`: an (N, H, W, 3) uint8 array, or CacheRows (read chunk by chunk)."""
        import tensorflow as tf

        check_enough(len(images), spec.batch_size)
        self.spec, self.count = spec, len(images)
        with tf.device("/cpu:0"):
            self.images = tf.Variable(tf.zeros(images.shape, tf.uint8), trainable=False,
                                      name="resident_images")
            for start in range(0, self.count, self.CHUNK):
                self.images[start:start + self.CHUNK].assign(images[start:start + self.CHUNK])
            self.order = tf.Variable(tf.zeros([self.count], tf.int32), trainable=False,
                                     name="epoch_order")
        self._epoch: int | None = None

    def args(self, epoch: int, batch: int):
        """The call arguments for steps from batch `batch` of epoch `epoch` (same epoch)."""
        import tensorflow as tf

        if epoch != self._epoch:
            self.order.assign(epoch_order(self.count, self.spec.seed, epoch,
                                          self.spec.shuffle).astype(np.int32))
            self._epoch = epoch
        return tf.constant(epoch, tf.int64), tf.constant(batch, tf.int64)

    def step_input(self, args, i):
        import tensorflow as tf

        epoch, first = args
        b = first + tf.cast(i, tf.int64)
        return b, tf.stack(batch_seed(tf.constant(self.spec.seed, tf.int64), epoch, b))

    def replica_batch(self, inputs):
        import tensorflow as tf

        b, seed = inputs
        context = tf.distribute.get_replica_context()
        gb = self.spec.batch_size
        local = gb // context.num_replicas_in_sync
        offset = tf.cast(context.replica_id_in_sync_group, tf.int32) * local
        start = tf.cast(b, tf.int32) * gb + offset
        with tf.device(self.images.device):
            rows = self.order[start:start + local]
            images = tf.gather(self.images, rows)
        return augment(images, seed, self.spec, offset, gb)


@dataclass
class TrainingInput:
    """Where a session's real images come from: `source` and `args(epoch, batch)` are what
    GanTrainer.train_steps takes; `description` is shown in the run's status."""

    source: object
    description: str
    resident: ResidentImages | None = None
    batches: Iterator | None = None

    def args(self, epoch: int, batch: int):
        return self.resident.args(epoch, batch) if self.resident else self.batches


def open_input(config, cache: Path, reader: CacheReader, rows: np.ndarray | None, strategy,
               start_epoch: int, start_batch: int, steps_per_epoch: int) -> TrainingInput:
    """Hold the training `rows` (None: all) in memory when they fit or are asked to (the
    config's resident_data), else stream them from disk from (start_epoch, start_batch)."""
    import tensorflow as tf

    from dcgan.train.step import STREAMED

    mode = config.data.resident_data
    multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    count = len(reader) if rows is None else len(rows)
    nbytes = count * reader.row_bytes
    if mode == "on" and multiworker:
        raise DcganError("resident_data: 'on' is not available with several machines "
                         "(multiworker); use 'auto' or 'off'")
    spec = input_spec(config)
    if not multiworker and (mode == "on" or (mode == "auto" and resident_fits(nbytes))):
        rows = np.arange(len(reader)) if rows is None else rows
        resident = ResidentImages(CacheRows(reader, rows), spec)
        return TrainingInput(resident, f"in memory ({nbytes / 2**20:.1f} MB)", resident=resident)
    dataset = make_dataset(cache, spec, start_epoch=start_epoch, start_batch=start_batch,
                           steps_per_epoch=steps_per_epoch, rows=rows)
    return TrainingInput(STREAMED, "streamed from disk",
                         batches=iter(strategy.experimental_distribute_dataset(dataset)))
