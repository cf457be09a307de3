"""dcgan.runs.queue: the served app's device queue (fair turns, limits, restarts, crashes)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from dcgan.runs.folder import update_status
from dcgan.runs.queue import DeviceQueue, QueueLimit


def run_dir(tmp_path: Path, owner: str, i: int) -> Path:
    folder = tmp_path / owner / "GAN_MODEL" / f"{i:05d}-data-studio"
    folder.mkdir(parents=True)
    update_status(folder, state="queued")
    return folder


def test_three_people_with_three_runs_each_take_turns(tmp_path):
    queue = DeviceQueue(tmp_path / "queue.db", slots=1)
    # ann submits her three first, then bob his three, then cat hers
    for owner in ("ann", "bob", "cat"):
        for i in range(3):
            queue.enqueue(owner, run_dir(tmp_path, owner, i))
    assert [j.owner for j in queue.order()] == ["ann", "bob", "cat"] * 3
    started, running = [], set()

    def start(job):
        started.append((job.owner, job.run_dir.name))
        running.add(job.id)

    for _ in range(9):  # each job ends, the next in turn starts
        assert len(queue.dispatch(lambda job: job.id in running, start)) == 1
        assert len(queue.jobs("running")) == 1  # one slot: never two at once
        finished = queue.jobs("running")[0]
        running.discard(finished.id)
        update_status(finished.run_dir, state="done")
    queue.dispatch(lambda job: job.id in running, start)
    assert [owner for owner, _ in started] == ["ann", "bob", "cat"] * 3
    # within a person's turns, their oldest first
    assert [name for owner, name in started if owner == "bob"] == [
        "00000-data-studio", "00001-data-studio", "00002-data-studio"]
    assert queue.jobs("queued") == [] and len(queue.jobs("ended")) == 9


def test_a_newcomer_goes_before_someone_who_has_had_a_turn(tmp_path):
    queue = DeviceQueue(tmp_path / "queue.db", slots=1)
    for i in range(3):
        queue.enqueue("ann", run_dir(tmp_path, "ann", i))
    first = queue.claim()
    assert first.owner == "ann"
    queue.enqueue("bob", run_dir(tmp_path, "bob", 0))  # bob comes later, but has had no turn
    assert [j.owner for j in queue.order()] == ["bob", "ann", "ann"]
    assert queue.position(tmp_path / "bob/GAN_MODEL/00000-data-studio") == 1
    assert queue.position(first.run_dir) is None  # running, not waiting


def test_as_many_run_at_once_as_there_are_slots(tmp_path):
    queue = DeviceQueue(tmp_path / "queue.db", slots=2)
    for owner in ("ann", "bob", "cat"):
        queue.enqueue(owner, run_dir(tmp_path, owner, 0))
    started = queue.dispatch(lambda job: True, lambda job: None)
    assert [j.owner for j in started] == ["ann", "bob"]
    assert queue.claim() is None
    assert queue.position(tmp_path / "cat/GAN_MODEL/00000-data-studio") == 1


def test_the_queue_survives_a_restart_and_claims_are_atomic(tmp_path):
    path = tmp_path / "queue.db"
    queue = DeviceQueue(path, slots=1)
    for owner in ("ann", "bob"):
        queue.enqueue(owner, run_dir(tmp_path, owner, 0))
    del queue  # the web server restarts
    again = DeviceQueue(path, slots=1)
    assert [j.owner for j in again.order()] == ["ann", "bob"]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # eight sessions claim at once: exactly one gets the slot
    claims, barrier = [], threading.Barrier(8)

    def claim():
        barrier.wait()
        claims.append(DeviceQueue(path, slots=1).claim())

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [c.owner for c in claims if c is not None] == ["ann"]


def test_a_crashed_job_frees_its_slot_and_one_that_cannot_start_is_skipped(tmp_path):
    queue = DeviceQueue(tmp_path / "queue.db", slots=1)
    for owner in ("ann", "bob", "cat"):
        queue.enqueue(owner, run_dir(tmp_path, owner, 0))
    ann = queue.dispatch(lambda job: True, lambda job: None)[0]
    update_status(ann.run_dir, state="running")  # it came up ...
    assert queue.dispatch(lambda job: True, lambda job: None) == []  # ... and trains
    # ... then was killed: its lock is gone while its status still says running

    def start(job):
        if job.owner == "bob":
            raise RuntimeError("the training job exited at once")

    started = queue.dispatch(lambda job: False, start)
    assert [j.owner for j in started] == ["cat"]
    notes = {j.owner: j.note for j in queue.jobs("ended")}
    assert notes == {"ann": "ended", "bob": "could not start: the training job exited at once"}
    # a job claimed a moment ago whose process has not taken its lock yet keeps the slot
    assert queue.dispatch(lambda job: False, start) == []
    assert [j.owner for j in queue.jobs("running")] == ["cat"]


def test_limits_and_cancelling(tmp_path):
    queue = DeviceQueue(tmp_path / "queue.db", slots=1)
    first = run_dir(tmp_path, "ann", 0)
    queue.enqueue("ann", first, max_queued=2)
    queue.enqueue("ann", run_dir(tmp_path, "ann", 1), max_queued=2)
    with pytest.raises(QueueLimit, match="the limit is 2 queued runs per person"):
        queue.enqueue("ann", run_dir(tmp_path, "ann", 2), max_queued=2)
    with pytest.raises(QueueLimit, match="already queued or running"):
        queue.enqueue("ann", first)
    assert queue.cancel(first) and not queue.cancel(first)
    queue.enqueue("ann", run_dir(tmp_path, "ann", 3), max_queued=2)  # room again
    assert queue.job_of(first).note == "cancelled"
    with pytest.raises(ValueError):
        DeviceQueue(tmp_path / "other.db", slots=0)
