"""Serving a class: who may use the app, whose workspace a person gets, the class's limits.

Three ways the app can be served (`serve_mode`):
- "local": on localhost (or 127.0.0.1 / ::1) without sign-in configured, one person: the
  app as always.
- "class": sign-in configured (Streamlit's OpenID Connect, `[auth]` in
  .streamlit/secrets.toml), on any address: every signed-in person gets a private
  workspace under $DCGAN_HOME/people/<id>, jobs wait their turn in the device queue
  (dcgan.runs.queue), and teachers (listed in `[class]`) see everyone's runs.
- "trusted": beyond localhost without sign-in, only when asked for explicitly
  (DCGAN_TRUSTED_NETWORK=1): one shared workspace, as on localhost, for a network where
  everyone who can reach the port may see and change everything.
Beyond localhost with neither, the app refuses to start and says how to configure one.

A person's id comes from the identity provider (issuer and subject), never from a name a
user typed; the built-in dataset is linked read-only into every person's workspace and the
demo generator is shipped in assets/, so both are shared and nobody can change them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path

from dcgan.config import ConfigError
from dcgan.errors import DcganError
from dcgan.workspace import Workspace

LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")
TRUSTED_ENV = "DCGAN_TRUSTED_NETWORK"
PEOPLE_DIR = "people"
CLASS_DIR = "class"  # $DCGAN_HOME/class/: the queue database
PERSON_FILE = "person.json"


class ServeRefused(DcganError):
    """The app is served beyond localhost without sign-in and without an explicit opt-out."""


@dataclass(frozen=True)
class Person:
    """A signed-in person as the identity provider describes them."""

    issuer: str
    subject: str
    email: str | None = None
    name: str | None = None

    @property
    def id(self) -> str:
        """Stable, not guessable from a name, safe as a folder name."""
        digest = hashlib.sha256(f"{self.issuer}\0{self.subject}".encode()).hexdigest()
        return "p" + digest[:20]

    @property
    def label(self) -> str:
        return self.name or self.email or self.subject


@dataclass(frozen=True)
class ClassSettings:
    """The `[class]` table of the served app's configuration (all optional)."""

    teachers: tuple[str, ...] = ()  # e-mail addresses or subjects
    slots: int = 0  # jobs at once; 0 = one per GPU (one on a CPU-only machine)
    max_queued: int = 3  # runs waiting per person
    max_disk_mb: int = 2000  # a person's workspace
    max_epochs: int = 200  # per run
    max_minutes: int = 60  # per run: the job stops itself after this

    @classmethod
    def from_dict(cls, raw: dict | None) -> ClassSettings:
        raw = dict(raw or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"[class]: unknown setting {', '.join(unknown)}; known: "
                              + ", ".join(sorted(known)))
        teachers = raw.pop("teachers", ())
        if isinstance(teachers, str) or not all(isinstance(t, str) for t in teachers):
            raise ConfigError("[class] teachers: a list of e-mail addresses or subjects")
        values = {}
        for name, value in raw.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"[class] {name}: {value!r} is not a whole number >= 0")
            values[name] = value
        return cls(teachers=tuple(t.strip().lower() for t in teachers), **values)

    def is_teacher(self, person: Person) -> bool:
        ids = {person.subject.lower(), (person.email or "").lower()} - {""}
        return bool(ids & set(self.teachers))

    def device_slots(self) -> int:
        if self.slots:
            return self.slots
        from dcgan.system import gpu_names

        return max(1, len(gpu_names()))


def serve_mode(address: str | None, auth_configured: bool,
               environ: dict[str, str] | None = None) -> str:
    """"local", "class" or "trusted" (see the module docstring); ServeRefused otherwise."""
    env = os.environ if environ is None else environ
    if auth_configured:
        return "class"
    if (address or "localhost") in LOCAL_ADDRESSES:
        return "local"
    if env.get(TRUSTED_ENV, "").strip().lower() in ("1", "true", "yes"):
        return "trusted"
    raise ServeRefused(
        f"the app is served on {address}, beyond this machine, without sign-in: anyone who "
        "can reach the port would see and change every dataset and run. Configure sign-in "
        "([auth] in .streamlit/secrets.toml, README \"Serving a class\"), or, on a network "
        f"you trust, opt out explicitly with {TRUSTED_ENV}=1; or serve on localhost.")


def secrets_files(cwd: Path | None = None) -> list[Path]:
    """Where Streamlit reads secrets.toml by default (the user's, then the project's)."""
    return [Path.home() / ".streamlit" / "secrets.toml",
            (cwd or Path.cwd()) / ".streamlit" / "secrets.toml"]


def auth_configured_in(files: list[Path]) -> bool:
    """Whether any of these secrets.toml files has an [auth] table (sign-in configured)."""
    import tomllib

    for path in files:
        try:
            if "auth" in tomllib.loads(Path(path).read_text()):
                return True
        except FileNotFoundError:
            continue
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
    return False


def person_workspace(shared: Workspace, person: Person,
                     shared_datasets: tuple[str, ...] | None = None) -> Workspace:
    """The person's own workspace under the shared one (created on first use), with the
    shared datasets (the built-in one) linked in read-only; their person.json kept current."""
    if shared_datasets is None:
        from dcgan.data.builtin import BUILTIN_DATASET

        shared_datasets = (BUILTIN_DATASET,)
    ws = Workspace(shared.root / PEOPLE_DIR / person.id).ensure()
    for name in shared_datasets:
        for mine, theirs in ((ws.dataset_dir(name), shared.dataset_dir(name)),
                             (ws.cache_dir(name), shared.cache_dir(name))):
            if theirs.is_dir() and not mine.is_symlink() and not mine.exists():
                mine.parent.mkdir(parents=True, exist_ok=True)
                mine.symlink_to(theirs, target_is_directory=True)
    card = ws.root / PERSON_FILE
    record = {"issuer": person.issuer, "subject": person.subject, "email": person.email,
              "name": person.name}
    try:
        old = json.loads(card.read_text())
    except (OSError, ValueError):
        old = {}
    if {k: old.get(k) for k in record} != record or time.time() - old.get("seen", 0) > 300:
        tmp = card.with_suffix(".tmp")
        tmp.write_text(json.dumps({**record, "seen": time.time()}))
        os.replace(tmp, card)
    return ws


def people(shared: Workspace) -> list[tuple[Person, Workspace]]:
    """Every person who has signed in, with their workspace (for the teachers' page)."""
    folder = shared.root / PEOPLE_DIR
    found = []
    for root in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            card = json.loads((root / PERSON_FILE).read_text())
            person = Person(card["issuer"], card["subject"], card.get("email"),
                            card.get("name"))
        except (OSError, ValueError, KeyError):
            continue
        if person.id == root.name:
            found.append((person, Workspace(root)))
    return found


def owner_of(shared: Workspace, run_dir: Path) -> str | None:
    """The person id a run folder belongs to (None: not inside a person's workspace)."""
    try:
        rel = Path(run_dir).resolve().relative_to((shared.root / PEOPLE_DIR).resolve())
    except ValueError:
        return None
    return rel.parts[0] if rel.parts else None


def disk_mb(ws: Workspace) -> float:
    """MB a person's workspace takes (the shared datasets linked in are not counted)."""
    total = 0
    for folder, dirs, files in os.walk(ws.root):  # symlinked folders are not followed
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                total += os.stat(path).st_size
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
    return total / 1e6


def queue_path(shared: Workspace) -> Path:
    return shared.root / CLASS_DIR / "queue.db"


# --- jobs in a served class: submitted to the device queue, started in turn ---------------
QUEUE_ENV, SLOTS_ENV, MINUTES_ENV = "DCGAN_QUEUE", "DCGAN_QUEUE_SLOTS", "DCGAN_MAX_MINUTES"


def open_queue(shared: Workspace, settings: ClassSettings):
    from dcgan.runs.queue import DeviceQueue

    return DeviceQueue(queue_path(shared), settings.device_slots())


def check_limits(ws: Workspace, config, settings: ClassSettings, queue, owner: str) -> None:
    """QueueLimit naming the first of the class's limits a new run would break."""
    from dcgan.runs.queue import QueueLimit

    if settings.max_epochs and config.train.epochs > settings.max_epochs:
        raise QueueLimit(f"{config.train.epochs} epochs is more than the class's limit of "
                         f"{settings.max_epochs} epochs per run")
    if settings.max_disk_mb:
        used = disk_mb(ws)
        if used >= settings.max_disk_mb:
            raise QueueLimit(f"your workspace takes {used:.0f} MB, the class's disk limit is "
                             f"{settings.max_disk_mb} MB per person: delete a run or dataset")
    waiting = len(queue.jobs("queued", owner))
    if settings.max_queued and waiting >= settings.max_queued:
        raise QueueLimit(f"you have {waiting} runs waiting already: the limit is "
                         f"{settings.max_queued} queued runs per person (stop or wait for one)")


def submit_job(shared: Workspace, ws: Workspace, owner: str, config, settings: ClassSettings,
               run_name: str | None = None) -> Path:
    """Create a run and put it in the device queue (it starts in its turn, see dispatch).

    Raises QueueLimit (naming the limit) before anything is created, ConfigError for a bad
    config."""
    from dcgan.data.prepare import cached_count
    from dcgan.runs.folder import create_run, update_status

    config.validate(dataset_size=cached_count(ws, config.data.dataset))
    queue = open_queue(shared, settings)
    check_limits(ws, config, settings, queue, owner)
    run_dir = create_run(ws, config, run_name)
    update_status(run_dir, state="queued", waiting=True, queued_at=time.time())
    queue.enqueue(owner, run_dir, settings.max_queued or None)
    dispatch(shared, settings, queue)
    return run_dir


def resubmit_job(shared: Workspace, ws: Workspace, owner: str, run_dir: Path,
                 settings: ClassSettings) -> Path:
    """Resume in a served class: the run waits for its turn again (limits as for a new run,
    but its epochs were accepted already)."""
    from dcgan.runs.folder import update_status
    from dcgan.runs.jobs import JobRunning, job_alive
    from dcgan.runs.queue import QueueLimit

    if job_alive(run_dir):
        raise JobRunning(f"run {run_dir.name} is training already")
    queue = open_queue(shared, settings)
    used = disk_mb(ws)
    if settings.max_disk_mb and used >= settings.max_disk_mb:
        raise QueueLimit(f"your workspace takes {used:.0f} MB, the class's disk limit is "
                         f"{settings.max_disk_mb} MB per person: delete a run or dataset")
    queue.enqueue(owner, run_dir, settings.max_queued or None)
    update_status(run_dir, state="queued", waiting=True, queued_at=time.time(), error=None)
    dispatch(shared, settings, queue)
    return run_dir


def stop_run(shared: Workspace, settings: ClassSettings, run_dir: Path) -> bool:
    """Take a waiting run out of the queue (it reads "stopped"), or ask a training job to
    stop; False when neither waits nor trains."""
    from dcgan.runs.folder import update_status
    from dcgan.runs.jobs import stop_job

    if open_queue(shared, settings).cancel(run_dir):
        update_status(run_dir, state="stopped", waiting=False,
                      error=None, note="taken out of the queue before it started")
        return True
    return stop_job(run_dir)


def dispatch(shared: Workspace, settings: ClassSettings, queue=None) -> list:
    """Free the slots of ended jobs and start the next ones in turn (see DeviceQueue)."""
    from dcgan.runs.jobs import job_alive, spawn_job

    queue = queue or open_queue(shared, settings)
    env = {QUEUE_ENV: str(queue.path), SLOTS_ENV: str(queue.slots),
           MINUTES_ENV: str(settings.max_minutes)}

    def start(job) -> None:
        from dcgan.runs.folder import update_status

        try:
            spawn_job(Workspace(job.run_dir.parent.parent), job.run_dir, extra_env=env)
        except Exception as exc:  # the run says why; the queue moves on to the next
            update_status(job.run_dir, state="failed", waiting=False, error=str(exc))
            raise

    return queue.dispatch(lambda job: job_alive(job.run_dir), start)


def after_job(run_dir: Path, environ: dict[str, str] | None = None) -> None:
    """Called by a training job as it exits (its lock released): when it came from a class's
    queue, its slot is freed and the next job in turn is started."""
    env = os.environ if environ is None else environ
    if not env.get(QUEUE_ENV):
        return
    from dcgan.runs.queue import DeviceQueue

    queue = DeviceQueue(Path(env[QUEUE_ENV]), int(env.get(SLOTS_ENV) or 1))
    job = queue.job_of(run_dir)
    if job is not None and job.state == "running":
        queue.end(job.id, "ended")
    shared = Workspace(queue.path.parent.parent)
    dispatch(shared, ClassSettings(slots=queue.slots,
                                   max_minutes=int(env.get(MINUTES_ENV) or 0)), queue)


def estimated_start(queue, run_dir: Path, typical_s: float, now: float | None = None
                    ) -> tuple[int, int, float] | None:
    """(position, waiting, seconds until it starts) of a waiting run, or None.

    Jobs ahead of it start as slots free: the running jobs' own ETAs (status.json), then
    `typical_s` per job for the rest, spread over the slots. An estimate, said as such."""
    from dcgan.runs.folder import read_status

    order = queue.order()
    position = next((i for i, job in enumerate(order) if job.run_dir == Path(run_dir)), None)
    if position is None:
        return None
    now = time.time() if now is None else now
    frees = sorted(float(read_status(job.run_dir).get("eta_s") or typical_s)
                   for job in queue.jobs("running"))
    frees += [0.0] * (queue.slots - len(frees))  # free slots
    for _ in range(position):  # each job ahead takes the slot that frees first
        frees = sorted([*frees[1:], frees[0] + typical_s])
    return position + 1, len(order), max(0.0, frees[0])


def waiting_text(shared: Workspace, settings: ClassSettings, run_dir: Path) -> str:
    """What the Train page says about a run waiting in the queue."""
    queue = open_queue(shared, settings)
    ended = [j for j in queue.jobs("ended") if j.started and j.ended]
    typical = (sum(j.ended - j.started for j in ended) / len(ended) if ended
               else settings.max_minutes * 60 or 600.0)
    found = estimated_start(queue, run_dir, typical)
    if found is None:
        return "Waiting for the device."
    position, waiting, seconds = found
    return (f"Waiting for the device: **{position}** of {waiting} in the queue (turns go "
            f"round robin between people); estimated start in about "
            f"{max(1, round(seconds / 60))} min.")


def check_folder(shared: Workspace, ws: Workspace, path: str | os.PathLike[str]) -> Path:
    """A server folder a signed-in person may import: allowed as for everyone (the
    workspace's confine) and never elsewhere in the class's workspace (other people's,
    the queue), whatever the allowed roots say (symlinks followed)."""
    from dcgan.errors import PathNotAllowed
    from dcgan.workspace import confine

    resolved = confine(path, workspace=ws, from_app=True)
    own = ws.root.resolve()
    if resolved.is_relative_to(shared.root.resolve()) and not resolved.is_relative_to(own):
        raise PathNotAllowed(f"{os.fspath(path)!r} is not inside an allowed folder")
    return resolved
