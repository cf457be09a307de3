"""Full training state on disk: one .npz per checkpoint, written atomically, a few kept.

A checkpoint holds the generator's and discriminator's weights (batch-norm statistics
included), both optimizers' variables (iterations and moments), and a JSON header with the
epoch, step and position in the epoch. Writes go to a temporary file in the same folder,
are fsynced, then renamed; a checkpoint that fails to load (truncated, corrupt) is skipped
in favour of the previous one. Non-finite values are never saved.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dcgan.errors import DcganError

CKPT_RE = re.compile(r"^ckpt-(\d{5})-(\d{9})\.npz$")
GROUPS = ("g", "d", "g_opt", "d_opt")


class CheckpointError(DcganError):
    """A checkpoint could not be written, or none could be read."""


class NonFiniteState(CheckpointError):
    """The state holds NaN or Inf: it is not saved."""


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoint files, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if CKPT_RE.match(p.name))


def state_bytes(state: dict[str, list[np.ndarray]]) -> int:
    return sum(a.nbytes for arrays in state.values() for a in arrays)


def ensure_space(folder: Path, needed: int) -> None:
    """Refuse early, with ENOSPC's words, when the disk cannot hold `needed` bytes."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise CheckpointError(
            f"disk full (ENOSPC): {free / 1e6:.0f} MB free in {folder}, a checkpoint needs "
            f"{needed / 1e6:.0f} MB; free some space (old runs, datasets) and resume")


def checkpoint_epoch(path: Path) -> int:
    return int(CKPT_RE.match(path.name).group(1))


def retained(paths: list[Path], keep: int, keep_every: int = 0,
             best_epoch: int | None = None) -> list[Path]:
    """Which of `paths` (oldest first) a run keeps: the newest `keep`, those of every
    `keep_every`-th epoch (0: none), and those of `best_epoch` (the lowest SWD so far)."""
    newest = set(paths[-keep:]) if keep > 0 else set()
    return [p for p in paths if p in newest
            or (keep_every and checkpoint_epoch(p) % keep_every == 0)
            or (best_epoch is not None and checkpoint_epoch(p) == best_epoch)]


def save_checkpoint(run_dir: Path, state: dict[str, list[np.ndarray]], meta: dict,
                    keep: int = 3, keep_every: int = 0, best_epoch: int | None = None) -> Path:
    """Write ckpt-<epoch>-<step>.npz atomically, then prune to what `retained` keeps."""
    for group, arrays in state.items():
        for i, array in enumerate(arrays):
            if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
                raise NonFiniteState(f"{group} variable {i} holds NaN or Inf: not saved")
    folder = checkpoint_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ensure_space(folder, state_bytes(state) + (1 << 20))
    path = folder / f"ckpt-{int(meta['epoch']):05d}-{int(meta['step']):09d}.npz"
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    payload = {f"{g}/{i:04d}": a for g, arrays in state.items() for i, a in enumerate(arrays)}
    payload["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise CheckpointError(
                f"disk full (ENOSPC) while writing {path.name}; the previous checkpoint is "
                "intact: free some space and resume") from None
        raise
    existing = list_checkpoints(run_dir)
    kept = set(retained(existing, keep, keep_every, best_epoch))
    for old in existing:
        if old not in kept:
            old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path, groups: tuple[str, ...] | None = None
                    ) -> tuple[dict[str, list[np.ndarray]], dict]:
    """(state, meta) of one checkpoint file; raises CheckpointError if it is unreadable.

    `groups` reads only those groups (e.g. the generator's, for Explore: a fraction of the
    file, since D and both optimisers' moments are most of it).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            state: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
            for key in sorted(k for k in data.files if k != "meta"):
                group, _ = key.split("/")
                if groups is None or group in groups:
                    state.setdefault(group, []).append(data[key])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path.name} is unreadable: {exc}") from None
    return state, meta


def load_latest(run_dir: Path) -> tuple[dict, dict, Path] | None:
    """The newest checkpoint that loads, falling back over broken ones; None if none."""
    errors = []
    for path in reversed(list_checkpoints(run_dir)):
        try:
            state, meta = load_checkpoint(path)
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        return state, meta, path
    if errors:
        raise CheckpointError("no checkpoint could be read: " + "; ".join(errors))
    return None


@dataclass(frozen=True)
class CheckpointPolicy:
    """When a run checkpoints (every `every` epochs, after the last, and on Stop) and what it
    keeps (`retained`); each checkpoint also replaces generator.keras, the exported
    generator that Explore and downloads read."""

    run_dir: Path
    every: int
    epochs: int
    keep: int = 3
    keep_every: int = 0

    def due(self, epoch: int) -> bool:
        return epoch % self.every == 0 or epoch == self.epochs

    def save(self, state: dict[str, list[np.ndarray]], position: dict, generator,
             best_epoch: int | None = None) -> Path:
        """Checkpoint `state` at `position` (epoch, step, batch_in_epoch, ...), then export
        `generator` (a Keras model). NonFiniteState, and nothing written, if state is not
        finite."""
        path = save_checkpoint(self.run_dir, state, {**position, "time": time.time()},
                               keep=self.keep, keep_every=self.keep_every,
                               best_epoch=best_epoch)
        tmp = self.run_dir / "generator.tmp.keras"
        generator.save(tmp)
        os.replace(tmp, self.run_dir / "generator.keras")
        return path
