"""The run folder protocol: GAN_MODEL/<00001-dataset-preset>/ is a run's single source of truth.

    config.json    the Config (rebuilds models and continues the run)
    status.json    state, pid, epoch, step, images/s, ETA, heartbeat, error (atomic replace)
    metrics.jsonl  one JSON object per logged step or finished epoch (appended, flushed)
    samples/       epoch_0001.png ... grids from the run's fixed noise
    checkpoints/   ckpt-EEEEE-SSSSSSSSS.npz full training state (see dcgan.train.checkpoints)
    generator.keras, fixed_noise.npy, train.log, STOP, tensorboard/

Only the training job writes status/metrics/samples/checkpoints; the app writes config.json
when it creates a run, and STOP to ask the job to stop.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dcgan.errors import DcganError
from dcgan.workspace import Workspace, check_name

STATES = ("queued", "running", "stopping", "stopped", "done", "failed", "diverged")
ACTIVE = ("queued", "running", "stopping")
RUN_RE = re.compile(r"^(\d{5})-[A-Za-z0-9_-]+$")


class RunError(DcganError):
    """A run folder is missing or unusable."""


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON to a temporary file in the same folder, fsync, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def create_run(ws: Workspace, config, run_name: str | None = None) -> Path:
    """Make GAN_MODEL/<NNNNN-name>/ with config.json and a queued status; returns its path."""
    ws.ensure()
    label = check_name(run_name, "run name") if run_name else \
        f"{config.data.dataset}-{config.preset}"
    for _ in range(100):  # another process may take the same number: retry
        numbers = [int(m.group(1)) for p in ws.runs_dir.iterdir()
                   if (m := RUN_RE.match(p.name))]
        run_dir = ws.runs_dir / f"{max(numbers, default=0) + 1:05d}-{label}"
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        (run_dir / "samples").mkdir()
        (run_dir / "checkpoints").mkdir()
        (run_dir / "config.json").write_text(config.to_json())
        write_json_atomic(run_dir / "status.json",
                          {"state": "queued", "queued_at": time.time()})
        return run_dir
    raise RunError("could not allocate a run number")


def resolve_run(ws: Workspace, ref: str | os.PathLike[str]) -> Path:
    """A run folder from its id ("00003-faces-dcgan"), its number ("3"), or its path.

    The result always lies inside GAN_MODEL; anything else is refused.
    """
    ref = os.fspath(ref)
    runs = ws.runs_dir.resolve()
    if ref.isdigit():
        matches = list(runs.glob(f"{int(ref):05d}-*"))
    else:
        path = Path(ref) if ("/" in ref or Path(ref).is_absolute()) else runs / ref
        path = path.resolve()
        matches = [path] if path.parent == runs else []
    matches = [p for p in matches
               if RUN_RE.match(p.name) and (p / "config.json").is_file()]
    if len(matches) != 1:
        raise RunError(f"no run {ref!r} in {runs}: `python -m dcgan runs` lists them")
    return matches[0]


def read_status(run_dir: Path) -> dict:
    return read_json(run_dir / "status.json", {}) or {}


def update_status(run_dir: Path, **fields) -> dict:
    status = read_status(run_dir)
    status.update(fields)
    write_json_atomic(run_dir / "status.json", status)
    return status


class MetricsLog:
    """Appends one JSON object per line to metrics.jsonl and flushes each line."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "metrics.jsonl"

    def append(self, record: dict) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()

    def truncate_after(self, step: int) -> None:
        """Drop lines past `step` (work lost since the checkpoint a run resumes from)."""
        kept = [r for r in read_metrics(self.path.parent) if r.get("step", 0) <= step]
        tmp = self.path.with_name(".metrics.jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        os.replace(tmp, self.path)


def read_metrics(run_dir: Path) -> list[dict]:
    """Every complete line of metrics.jsonl (a half-written last line is skipped)."""
    return MetricsTail(run_dir).read()


class MetricsTail:
    """metrics.jsonl read incrementally, for a dashboard that refreshes every few seconds.

    Each `read()` parses only the complete lines appended since the previous one; a file
    that was replaced or shortened (a resume truncates it to its checkpoint) is read again
    from the start. Thread-safe, so the tabs of one server can share one tail.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / "metrics.jsonl"
        self._lock = threading.Lock()
        self._records: list[dict] = []
        self._offset, self._inode = 0, None

    def read(self) -> list[dict]:
        """Every complete record so far (a new list; the records themselves are shared)."""
        with self._lock:
            try:
                stat = os.stat(self.path)
            except OSError:
                stat = None
            if stat is None or stat.st_ino != self._inode or stat.st_size < self._offset:
                self._records, self._offset = [], 0
                self._inode = stat.st_ino if stat else None
            if stat is not None and stat.st_size > self._offset:
                with open(self.path, "rb") as fh:
                    fh.seek(self._offset)
                    chunk = fh.read(stat.st_size - self._offset)
                complete = chunk[:chunk.rfind(b"\n") + 1]  # a half-written line waits
                self._offset += len(complete)
                for line in complete.splitlines():
                    try:
                        self._records.append(json.loads(line))
                    except ValueError:
                        continue
            return list(self._records)


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    path: Path
    state: str
    dataset: str
    preset: str
    epoch: int
    epochs: int
    last: dict


def list_runs(ws: Workspace) -> list[RunInfo]:
    """Every run, newest first, with its state as the job last wrote it."""
    if not ws.runs_dir.is_dir():
        return []
    infos = []
    for path in sorted(ws.runs_dir.iterdir(), reverse=True):
        if not RUN_RE.match(path.name):
            continue
        config = read_json(path / "config.json", {}) or {}
        status = read_status(path)
        infos.append(RunInfo(
            run_id=path.name, path=path, state=status.get("state", "unknown"),
            dataset=config.get("data", {}).get("dataset", "?"),
            preset=config.get("preset", "?"), epoch=int(status.get("epoch", 0)),
            epochs=int(config.get("train", {}).get("epochs", 0)),
            last=status.get("last_metrics", {})))
    return infos


def disk_bytes(folder: Path) -> int:
    """Bytes on disk of every file under `folder` (0 if it is gone)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:  # removed while we walk (a pruned checkpoint)
            continue
    return total


def load_directions(run_dir: Path) -> dict[str, list[float]]:
    """User-labelled latent directions saved for a run: {name: unit vector}."""
    return read_json(run_dir / "directions.json", {}) or {}


def save_direction(run_dir: Path, name: str, vector) -> None:
    """Add or replace a named direction in the run's directions.json (atomic)."""
    check_name(name, "direction name")
    directions = load_directions(run_dir)
    directions[name] = [float(v) for v in vector]
    write_json_atomic(run_dir / "directions.json", directions)
