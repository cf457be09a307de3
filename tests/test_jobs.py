"""dcgan.runs.jobs with real processes: start, stop, kill -9, resume, double start, the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dcgan.runs.folder import create_run, read_status, update_status
from dcgan.runs.jobs import (
    JobRunning,
    hold_job_lock,
    job_alive,
    job_state,
    refresh_seconds,
    resume_job,
    runs_with_state,
    start_job,
    stop_job,
)
from dcgan.train.checkpoints import list_checkpoints, load_latest
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[1]


def wait_for(predicate, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_lock_probe_and_crashed_state(ws):
    run = create_run(ws, tiny_config())
    assert not job_alive(run) and job_state(run) == "queued"
    with hold_job_lock(run):
        assert job_alive(run)
        with pytest.raises(JobRunning, match="already being trained"), hold_job_lock(run):
            pass
    update_status(run, state="running", queued_at=0)
    assert job_state(run) == "crashed"  # active in status.json, but nobody holds the lock


def test_a_stopped_run_whose_job_is_still_exiting_reads_as_stopping(ws):
    run = create_run(ws, tiny_config())
    update_status(run, state="running", queued_at=time.time())
    with hold_job_lock(run):  # the job, alive
        assert job_state(run) == "running"
        (run / "STOP").write_text("1")  # Stop pressed: the job has not seen it yet
        assert job_state(run) == "stopping"
        update_status(run, state="stopped")  # written just before the job lets go of the lock
        assert job_state(run) == "stopping"
        with pytest.raises(JobRunning, match=r"still stopping .* in a few seconds"):
            resume_job(ws, run)  # never a silent no-op
    (run / "STOP").unlink()
    assert job_state(run) == "stopped"  # the lock is released: Resume can start it


def test_a_page_rereads_a_run_as_often_as_its_state_asks(ws):
    run = create_run(ws, tiny_config())
    update_status(run, state="queued", waiting=True, queued_at=time.time())
    assert refresh_seconds(run) == (5.0, None)  # waiting in a class's queue: no charts
    update_status(run, waiting=False)
    assert refresh_seconds(run) == (2.0, 10.0)  # its job is starting
    with hold_job_lock(run):
        update_status(run, state="running")
        assert refresh_seconds(run) == (2.0, 10.0)
        (run / "STOP").write_text("1")
        assert refresh_seconds(run) == (2.0, 10.0)  # stopping: "stopping" shows at once
    (run / "STOP").unlink()
    update_status(run, state="stopped")
    assert refresh_seconds(run) == (10.0, None)
    update_status(run, state="running", queued_at=0)
    assert job_state(run) == "crashed" and refresh_seconds(run) == (10.0, None)


def test_start_stop_resume_and_no_second_job(ws, tiny_dataset):
    config = tiny_config("dcgan", epochs=200, checkpoint_every=50)
    run = start_job(ws, config)
    assert job_alive(run) and job_state(run) in ("queued", "running")
    with pytest.raises(JobRunning, match="stop it first"):
        start_job(ws, config)  # a second Start (another tab) starts nothing
    with pytest.raises(JobRunning, match="training already"):
        resume_job(ws, run)  # Resume while it trains: says so, starts nothing
    assert len(runs_with_state(ws)) == 1
    wait_for(lambda: read_status(run).get("step", 0) >= 3, what="first steps")
    pid = read_status(run)["pid"]
    # The CLI takes the same lock: a second trainer on this run exits at once.
    out = subprocess.run([sys.executable, "-m", "dcgan", "train", "--resume", run.name],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "already being trained" in out.stderr
    assert stop_job(run)
    wait_for(lambda: not job_alive(run), what="stop")
    status = read_status(run)
    assert status["state"] == "stopped" and job_state(run) == "stopped"
    assert list_checkpoints(run), "stop writes a checkpoint"
    assert not (run / "STOP").exists()
    stopped_step = status["step"]
    resume_job(ws, run)
    wait_for(lambda: read_status(run).get("step", 0) > stopped_step + 2, what="resumed steps")
    assert read_status(run)["pid"] != pid
    stop_job(run)
    wait_for(lambda: not job_alive(run), what="second stop")
    assert not stop_job(run)  # nothing to stop


def test_kill_minus_9_then_resume_matches_an_uninterrupted_run(ws, tiny_dataset):

    from dcgan.train.loop import run_training

    config = tiny_config("dcgan", epochs=8, deterministic=True)
    reference = create_run(ws, config)
    assert run_training(config, reference) == "done"

    run = start_job(ws, config)
    wait_for(lambda: len(list_checkpoints(run)) >= 2, what="two checkpoints")
    os.killpg(read_status(run)["pid"], signal.SIGKILL)
    wait_for(lambda: not job_alive(run), what="death")
    assert job_state(run) == "crashed"
    resume_job(ws, run)
    wait_for(lambda: job_state(run) == "done", timeout=180, what="resumed run to finish")
    a, meta_a, _ = load_latest(reference)
    b, meta_b, _ = load_latest(run)
    assert (meta_a["epoch"], meta_a["step"]) == (meta_b["epoch"], meta_b["step"]) == (8, 24)
    for group in a:
        for x, y in zip(a[group], b[group], strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, err_msg=group)


def test_a_class_queue_runs_two_peoples_jobs_one_after_the_other(ws, tiny_dataset):
    """Real jobs through a served class's queue: the first starts at once, the second waits
    and is started by the first job itself as it exits (no app, no timer)."""
    from dcgan.runs import classroom
    from dcgan.runs.classroom import ClassSettings, Person, person_workspace

    settings = ClassSettings(slots=1, max_minutes=0)
    people = [Person("http://idp", who) for who in ("ann", "bob")]
    homes = [person_workspace(ws, p, shared_datasets=(tiny_dataset,)) for p in people]
    config = tiny_config("dcgan", epochs=2)
    first = classroom.submit_job(ws, homes[0], people[0].id, config, settings)
    second = classroom.submit_job(ws, homes[1], people[1].id, config, settings)
    assert job_state(second) == "queued" and read_status(second)["waiting"]
    wait_for(lambda: read_status(second).get("state") == "done", 180, "the second job")
    assert read_status(first)["state"] == "done"
    queue = classroom.open_queue(ws, settings)
    # the job ends its queue entry as it exits, just after writing "done"
    wait_for(lambda: queue.job_of(second).state == "ended", 60, "the second job's exit")
    jobs = [queue.job_of(first), queue.job_of(second)]
    assert [j.state for j in jobs] == ["ended", "ended"]
    assert jobs[0].ended <= jobs[1].started  # one at a time, in turn
