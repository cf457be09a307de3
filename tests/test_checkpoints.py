"""dcgan.train.checkpoints: atomic writes, keep-last-K, fallback over broken files, no NaN saved."""

from __future__ import annotations

import errno
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from dcgan.train import checkpoints
from dcgan.train.checkpoints import (
    CheckpointError,
    NonFiniteState,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    save_checkpoint,
)


def state(value: float) -> dict:
    return {"g": [np.full((3, 2), value, np.float32), np.arange(4, dtype=np.float32)],
            "d": [np.full((2,), value * 2, np.float32)],
            "g_opt": [np.array(7, np.int64), np.ones((3, 2), np.float32)],
            "d_opt": [np.array(7, np.int64)]}


def meta(epoch: int) -> dict:
    return {"epoch": epoch, "step": epoch * 10, "batch_in_epoch": 0}


def test_round_trip_keeps_order_dtypes_and_meta(tmp_path):
    path = save_checkpoint(tmp_path, state(1.5), meta(2))
    assert path.name == "ckpt-00002-000000020.npz"
    loaded, header = load_checkpoint(path)
    assert header == meta(2)
    for group, arrays in state(1.5).items():
        assert [a.dtype for a in loaded[group]] == [a.dtype for a in arrays]
        assert all(np.array_equal(a, b) for a, b in zip(loaded[group], arrays, strict=True))
    assert not list((tmp_path / "checkpoints").glob(".*"))  # no temp file left


def test_keeps_only_the_last_k(tmp_path):
    for epoch in range(1, 6):
        save_checkpoint(tmp_path, state(epoch), meta(epoch), keep=2)
    assert [p.name[:10] for p in list_checkpoints(tmp_path)] == ["ckpt-00004", "ckpt-00005"]
    _, header, _ = load_latest(tmp_path)
    assert header["epoch"] == 5


def test_keeps_the_newest_the_best_and_every_kth(tmp_path):
    for epoch in range(5, 65, 5):  # a checkpoint every 5 epochs; the best SWD was at 15
        save_checkpoint(tmp_path, state(epoch), meta(epoch), keep=3, keep_every=25,
                        best_epoch=15)
    assert [checkpoints.checkpoint_epoch(p) for p in list_checkpoints(tmp_path)] == \
        [15, 25, 50, 55, 60]
    # the best moves on: the old best is then only kept if it is one of the others
    save_checkpoint(tmp_path, state(65), meta(65), keep=3, keep_every=25, best_epoch=55)
    assert [checkpoints.checkpoint_epoch(p) for p in list_checkpoints(tmp_path)] == \
        [25, 50, 55, 60, 65]


def test_truncated_newest_falls_back_to_the_previous(tmp_path):
    save_checkpoint(tmp_path, state(1.0), meta(1))
    newest = save_checkpoint(tmp_path, state(2.0), meta(2))
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    loaded, header, path = load_latest(tmp_path)
    assert header["epoch"] == 1 and loaded["g"][0][0, 0] == 1.0
    assert path.name.startswith("ckpt-00001")


def test_no_readable_checkpoint_is_an_error_and_none_is_none(tmp_path):
    assert load_latest(tmp_path) is None
    only = save_checkpoint(tmp_path, state(1.0), meta(1))
    only.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="no checkpoint could be read"):
        load_latest(tmp_path)


def test_non_finite_state_is_never_saved(tmp_path):
    save_checkpoint(tmp_path, state(1.0), meta(1))
    bad = state(1.0)
    bad["d"][0][1] = np.nan
    with pytest.raises(NonFiniteState):
        save_checkpoint(tmp_path, bad, meta(2))
    assert [p.name[:10] for p in list_checkpoints(tmp_path)] == ["ckpt-00001"]


def test_disk_full_is_refused_before_writing(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(checkpoints.shutil, "disk_usage", lambda _: usage(100, 99, 1))
    with pytest.raises(CheckpointError, match=r"disk full \(ENOSPC\)"):
        save_checkpoint(tmp_path, state(1.0), meta(1))
    assert list_checkpoints(tmp_path) == []


def test_enospc_during_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, state(1.0), meta(1))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.np, "savez", full)
    with pytest.raises(CheckpointError, match="previous checkpoint is intact"):
        save_checkpoint(tmp_path, state(2.0), meta(2))
    assert [p.name[:10] for p in list_checkpoints(tmp_path)] == ["ckpt-00001"]
    assert not list((tmp_path / "checkpoints").glob(".*"))


class FakeGenerator:
    """Stands for a Keras model: save() writes the file it is given."""

    def __init__(self):
        self.saved = []

    def save(self, path):
        self.saved.append(path.name)
        path.write_bytes(b"keras")


def test_policy_checkpoints_every_k_epochs_and_the_last():
    policy = checkpoints.CheckpointPolicy(Path("."), every=3, epochs=7)
    assert [e for e in range(1, 8) if policy.due(e)] == [3, 6, 7]


def test_policy_saves_the_state_its_header_and_the_generator(tmp_path):
    policy = checkpoints.CheckpointPolicy(tmp_path, every=1, epochs=9, keep=2)
    generator = FakeGenerator()
    for epoch in (1, 2, 3):
        policy.save(state(epoch), {**meta(epoch), "epoch_sums": {"d_loss": 1.5}}, generator,
                    best_epoch=1)
    kept = [checkpoints.checkpoint_epoch(p) for p in list_checkpoints(tmp_path)]
    assert kept == [1, 2, 3]  # the newest 2, and the best
    _, header = load_checkpoint(list_checkpoints(tmp_path)[-1])
    assert header["epoch_sums"] == {"d_loss": 1.5} and header["time"] > 0
    assert (tmp_path / "generator.keras").read_bytes() == b"keras"
    assert generator.saved == ["generator.tmp.keras"] * 3
    with pytest.raises(NonFiniteState):
        policy.save(state(np.nan), meta(4), generator)
    assert len(generator.saved) == 3  # nothing exported from a non-finite state
