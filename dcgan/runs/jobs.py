"""The background training job: one detached `python -m dcgan train --run DIR` per run.

The job holds an exclusive lock on DIR/job.lock for its whole life (the kernel drops it
when the process dies, even under kill -9), so "is a job alive?" is a lock probe, never a
guess from a pid. Launches are serialised by GAN_MODEL/.launch.lock: two clicks, two tabs
or a refresh can never start a second job. The app writes nothing but config.json (via
start_job) and STOP; everything else in the run folder is the job's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from dcgan.config import Config
from dcgan.errors import DcganError
from dcgan.runs.folder import ACTIVE, RunInfo, create_run, list_runs, read_status, update_status
from dcgan.workspace import Workspace

LOCK_NAME = "job.lock"
STOP_NAME = "STOP"
QUEUED_GRACE_S = 120.0  # a queued run whose job never took the lock reads as crashed after
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class JobRunning(DcganError):
    """A job already trains this run (or another run, for start_job)."""


@contextlib.contextmanager
def hold_job_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run's job lock for the duration, or raise JobRunning at once."""
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = read_status(run_dir).get("pid")
            raise JobRunning(f"run {run_dir.name} is already being trained"
                             + (f" (pid {pid})" if pid else "")) from None
        yield
    finally:
        os.close(fd)


def job_alive(run_dir: Path) -> bool:
    """True while some process holds the run's job lock."""
    path = run_dir / LOCK_NAME
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def job_state(run_dir: Path) -> str:
    """The run's state as a person should read it, checked against the job lock.

    An active state with no live job reads as "crashed". A final state ("stopped", "done",
    ...) written by a job that still holds the lock reads as "stopping": the job is saving
    and exiting, and the run cannot be resumed until it has (0.5-5 s).
    """
    status = read_status(run_dir)
    state = status.get("state", "unknown")
    alive = job_alive(run_dir)
    if state in ACTIVE and not alive:
        young = time.time() - float(status.get("queued_at", 0)) < QUEUED_GRACE_S
        waiting = bool(status.get("waiting"))  # in a served class's device queue
        if not (state == "queued" and (young or waiting)):
            return "crashed"
    if alive and (state not in ACTIVE or stop_requested(run_dir)):
        return "stopping"
    return state


WAITING_REFRESH_S = 5.0  # a page's re-read of a run waiting in a class's queue


def refresh_seconds(run_dir: Path) -> tuple[float, float | None]:
    """How often a page showing this run re-reads it: (status, charts) in seconds, None for
    never. While its job trains, starts or stops: the status every 2 s, the charts every
    10 s. Waiting in a served class's device queue: the status every 5 s (only its place in
    the queue moves; 20 waiting students' tabs cost the server and their browsers 2.5x less
    than at 2 s), no charts (nothing new to draw). Otherwise the status every 10 s (only
    another job starting changes it) and the charts never."""
    state = job_state(run_dir)
    if state not in ACTIVE:  # ACTIVE holds "stopping" too
        return 10.0, None
    if state == "queued" and read_status(run_dir).get("waiting"):
        return WAITING_REFRESH_S, None
    return 2.0, 10.0


def runs_with_state(ws: Workspace) -> list[RunInfo]:
    """list_runs with each state checked against the job lock."""
    return [RunInfo(**{**info.__dict__, "state": job_state(info.path)})
            for info in list_runs(ws)]


@contextlib.contextmanager
def _launch_lock(ws: Workspace) -> Iterator[None]:
    ws.ensure()
    fd = os.open(ws.runs_dir / ".launch.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def spawn_job(ws: Workspace, run_dir: Path, timeout_s: float = 120.0,
              extra_env: dict[str, str] | None = None) -> None:
    """Start the detached job and wait until it holds the run's lock (or has exited).

    No check of other jobs: start_job and resume_job hold the launch lock and allow one job
    per workspace; a served class's queue (dcgan.runs.classroom) decides for itself."""
    (run_dir / STOP_NAME).unlink(missing_ok=True)
    update_status(run_dir, state="queued", queued_at=time.time(), error=None, waiting=False,
                  note=None)
    env = {**os.environ, "DCGAN_HOME": str(ws.root), "PYTHONUNBUFFERED": "1",
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "1"),
           **(extra_env or {})}
    with open(run_dir / "train.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dcgan", "train", "--run", str(run_dir), "--no-progress"],
            cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if job_alive(run_dir):
            return
        if process.poll() is not None:
            error = read_status(run_dir).get("error") or "see train.log"
            raise DcganError(f"the training job exited at once: {error}")
        time.sleep(0.05)
    raise DcganError(f"the training job did not start within {timeout_s:.0f} s: see "
                     f"{run_dir / 'train.log'}")


def active_run(ws: Workspace) -> Path | None:
    """The run whose job is alive, if any (one job at a time)."""
    for info in list_runs(ws):
        if job_alive(info.path):
            return info.path
    return None


def start_job(ws: Workspace, config: Config, run_name: str | None = None,
              timeout_s: float = 120.0) -> Path:
    """Create a run for `config` and start its job; refuses while another job runs."""
    from dcgan.data.prepare import cached_count

    config.validate(dataset_size=cached_count(ws, config.data.dataset))
    with _launch_lock(ws):
        busy = active_run(ws)
        if busy is not None:
            raise JobRunning(f"run {busy.name} is training: stop it first (one job at a time)")
        run_dir = create_run(ws, config, run_name)
        spawn_job(ws, run_dir, timeout_s)
    return run_dir


def resume_job(ws: Workspace, run_dir: Path, timeout_s: float = 120.0) -> Path:
    """Start the job of an existing run again.

    Raises JobRunning while the run's own job is alive (training, or still exiting after a
    Stop: say so and try again), or while another run's job trains.
    """
    with _launch_lock(ws):
        if job_alive(run_dir):
            if job_state(run_dir) == "stopping":
                raise JobRunning(f"run {run_dir.name} is still stopping (saving and exiting): "
                                 "Resume is possible in a few seconds")
            raise JobRunning(f"run {run_dir.name} is training already")
        busy = active_run(ws)
        if busy is not None:
            raise JobRunning(f"run {busy.name} is training: stop it first (one job at a time)")
        spawn_job(ws, run_dir, timeout_s)
    return run_dir


def stop_job(run_dir: Path) -> bool:
    """Ask the run's job to checkpoint and exit (within one step); False if none runs."""
    if not job_alive(run_dir):
        return False
    tmp = run_dir / f".{STOP_NAME}.tmp"
    tmp.write_text(str(time.time()))
    os.replace(tmp, run_dir / STOP_NAME)
    return True


def stop_requested(run_dir: Path) -> bool:
    return (run_dir / STOP_NAME).exists()
