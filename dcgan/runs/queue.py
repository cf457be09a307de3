"""The device queue of a served app: training jobs take turns on the accelerators.

One SQLite database (WAL mode) holds every run submitted while the app serves a class:
`queued` until a slot frees, `running` while its job trains, then `ended`. Enqueue and claim
are single transactions (`BEGIN IMMEDIATE`), so two web sessions, two server processes or a
restarted server never start the same run twice or lose a queued one. The run folder stays
the truth of each run (its status.json and job lock); the queue only decides who starts
next.

Fairness is round robin between people: the next job belongs to the person, among those
waiting, whose last start is the oldest (never started: first), ties going to whoever
queued first; within one person's jobs, their oldest first. So one person's five runs do not
block a classmate's first, and nobody's job starts out of turn.

A slot is freed when its job ends (the run's job lock is released: done, stopped, failed or
crashed) or when its job never came up; `dispatch` does that and starts the next jobs. The
app calls it on a timer and every training job calls it as it exits, so the queue moves even
with no browser open.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dcgan.errors import DcganError

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'ended')),
    enqueued REAL NOT NULL,
    started REAL,
    ended REAL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, owner);
"""


@dataclass(frozen=True)
class QueuedJob:
    id: int
    owner: str
    run_dir: Path
    state: str
    enqueued: float
    started: float | None
    ended: float | None
    note: str | None


class DeviceQueue:
    """The queue in `path` (created on first use) for `slots` jobs at once."""

    def __init__(self, path: Path, slots: int = 1):
        if slots < 1:
            raise ValueError("a device queue needs at least one slot")
        self.path = Path(path)
        self.slots = slots
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the database's write lock from its start."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # --- reading ---------------------------------------------------------------------------
    def jobs(self, state: str | None = None, owner: str | None = None) -> list[QueuedJob]:
        query, args = "SELECT * FROM jobs WHERE 1", []
        if state is not None:
            query, args = query + " AND state = ?", [*args, state]
        if owner is not None:
            query, args = query + " AND owner = ?", [*args, owner]
        with self._connect() as db:
            return [_job(row) for row in db.execute(query + " ORDER BY id", args)]

    def job_of(self, run_dir: Path) -> QueuedJob | None:
        """The latest entry of a run (a resumed run is queued again)."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE run_dir = ? ORDER BY id DESC LIMIT 1",
                             (str(run_dir),)).fetchone()
        return _job(row) if row else None

    def order(self) -> list[QueuedJob]:
        """The waiting jobs in the order they will start (round robin between owners)."""
        with self._connect() as db:
            return _fair_order(db)

    def position(self, run_dir: Path) -> int | None:
        """1 for the next job to start; None when the run is not waiting."""
        for i, job in enumerate(self.order(), start=1):
            if job.run_dir == Path(run_dir):
                return i
        return None

    # --- writing ---------------------------------------------------------------------------
    def enqueue(self, owner: str, run_dir: Path, max_queued: int | None = None) -> QueuedJob:
        """Put a run in the queue; QueueLimit if its owner already waits for `max_queued`."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM jobs WHERE run_dir = ? AND state != 'ended'",
                          (str(run_dir),)).fetchone():
                raise QueueLimit(f"run {Path(run_dir).name} is already queued or running")
            waiting = db.execute("SELECT COUNT(*) FROM jobs WHERE owner = ? AND state = "
                                 "'queued'", (owner,)).fetchone()[0]
            if max_queued is not None and waiting >= max_queued:
                raise QueueLimit(f"you have {waiting} runs waiting already: the limit is "
                                 f"{max_queued} queued runs per person (stop or wait for one)")
            cursor = db.execute("INSERT INTO jobs (owner, run_dir, state, enqueued) "
                                "VALUES (?, ?, 'queued', ?)", (owner, str(run_dir), time.time()))
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return _job(row)

    def cancel(self, run_dir: Path, note: str = "cancelled") -> bool:
        """Take a waiting run out of the queue; False if it was not waiting."""
        with self._transaction() as db:
            cursor = db.execute("UPDATE jobs SET state = 'ended', ended = ?, note = ? WHERE "
                                "run_dir = ? AND state = 'queued'",
                                (time.time(), note, str(run_dir)))
        return cursor.rowcount > 0

    def claim(self) -> QueuedJob | None:
        """The next job in turn, marked running, if a slot is free (one transaction)."""
        with self._transaction() as db:
            running = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()[0]
            if running >= self.slots:
                return None
            order = _fair_order(db)
            if not order:
                return None
            job = order[0]
            db.execute("UPDATE jobs SET state = 'running', started = ? WHERE id = ?",
                       (time.time(), job.id))
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job.id,)).fetchone()
        return _job(row)

    def end(self, job_id: int, note: str | None = None) -> None:
        with self._transaction() as db:
            db.execute("UPDATE jobs SET state = 'ended', ended = ?, note = COALESCE(?, note) "
                       "WHERE id = ? AND state != 'ended'", (time.time(), note, job_id))

    def dispatch(self, alive: Callable[[QueuedJob], bool],
                 start: Callable[[QueuedJob], None], grace_s: float = 120.0) -> list[QueuedJob]:
        """Free the slots of ended jobs, then start waiting jobs while slots are free.

        `alive(job)` says whether a running job's process still trains (its run's job lock);
        a job not alive `grace_s` after its start has ended (or crashed, or never came up).
        `start(job)` launches a claimed job; if it raises, the job ends with the error as
        its note and the next one is tried. Returns the jobs started.
        """
        now = time.time()
        for job in self.jobs("running"):
            if not alive(job) and (_came_up(job) or now - (job.started or now) > grace_s):
                self.end(job.id, "ended")
        started = []
        while (job := self.claim()) is not None:
            try:
                start(job)
            except Exception as exc:  # a job that cannot start must not hold the slot
                self.end(job.id, f"could not start: {exc}")
                continue
            started.append(job)
        return started


class QueueLimit(DcganError):
    """A limit of the class's queue refuses a run (the message names the limit)."""


def _came_up(job: QueuedJob) -> bool:
    """Whether the run's job has started (only a job holding the run's lock moves its status
    on from "queued"): with the lock free again, it has ended or crashed."""
    from dcgan.runs.folder import read_status

    return read_status(job.run_dir).get("state", "queued") != "queued"


def _job(row: sqlite3.Row) -> QueuedJob:
    return QueuedJob(row["id"], row["owner"], Path(row["run_dir"]), row["state"],
                     row["enqueued"], row["started"], row["ended"], row["note"])


def _fair_order(db: sqlite3.Connection) -> list[QueuedJob]:
    """Waiting jobs in round-robin order: turns by the owners' last start, then queue time.

    Simulated turn by turn: the owner whose last start is oldest goes first (never started:
    before anyone who has), and after each simulated start that owner goes to the back.
    """
    waiting: dict[str, list[QueuedJob]] = {}
    for row in db.execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY enqueued, id"):
        job = _job(row)
        waiting.setdefault(job.owner, []).append(job)
    last = {row["owner"]: row["last"] for row in db.execute(
        "SELECT owner, MAX(started) AS last FROM jobs WHERE started IS NOT NULL GROUP BY owner")}
    turn = {owner: (last.get(owner) or float("-inf"), jobs[0].enqueued, jobs[0].id)
            for owner, jobs in waiting.items()}
    order, clock = [], time.time()
    while turn:
        owner = min(turn, key=turn.get)
        job = waiting[owner].pop(0)
        order.append(job)
        if waiting[owner]:
            clock += 1e-6  # a simulated start, later than every real one
            turn[owner] = (clock, waiting[owner][0].enqueued, waiting[owner][0].id)
        else:
            del turn[owner]
    return order
