"""dcgan.runs.classroom: serve modes, people's private workspaces, limits and the queue's
jobs (started by a stand-in here; test_jobs has the real processes)."""

from __future__ import annotations

import pytest

from dcgan.config import ConfigError
from dcgan.errors import DatasetError
from dcgan.runs import classroom
from dcgan.runs.classroom import (
    ClassSettings,
    Person,
    ServeRefused,
    person_workspace,
    serve_mode,
)
from dcgan.runs.folder import read_status
from dcgan.runs.queue import QueueLimit
from tests.conftest import tiny_config

ANN = Person("http://idp", "ann-sub", "ann@school.example", "Ann")
BOB = Person("http://idp", "bob-sub", "bob@school.example", "Bob")
TEACHER = Person("http://idp", "t-sub", "Teacher@School.example", "Ms T")


def test_beyond_localhost_the_app_needs_sign_in_or_an_explicit_opt_out():
    assert serve_mode("localhost", False, {}) == "local"
    assert serve_mode("127.0.0.1", True, {}) == "class"  # sign-in configured: tried locally
    assert serve_mode(None, False, {}) == "local"
    assert serve_mode("0.0.0.0", True, {}) == "class"
    assert serve_mode("0.0.0.0", False, {"DCGAN_TRUSTED_NETWORK": "1"}) == "trusted"
    with pytest.raises(ServeRefused, match=r"served on 0\.0\.0\.0.*without sign-in.*\[auth\].*"
                                           r"DCGAN_TRUSTED_NETWORK=1"):
        serve_mode("0.0.0.0", False, {"DCGAN_TRUSTED_NETWORK": "no"})


def test_sign_in_is_configured_by_an_auth_table_in_a_secrets_file(tmp_path):
    from dcgan.runs.classroom import auth_configured_in

    plain, signed, broken = (tmp_path / n for n in ("plain.toml", "signed.toml", "bad.toml"))
    plain.write_text('[class]\nteachers = ["t@x"]\n')
    signed.write_text('[auth]\nclient_id = "x"\n')
    broken.write_text("[auth\n")
    assert not auth_configured_in([tmp_path / "missing.toml", plain])
    assert auth_configured_in([plain, signed])
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        auth_configured_in([broken])


def test_class_settings_are_checked_and_teachers_matched_by_email_or_subject():
    settings = ClassSettings.from_dict({"teachers": ["teacher@school.example", "root-sub"],
                                        "slots": 2, "max_queued": 1})
    assert settings.is_teacher(TEACHER) and not settings.is_teacher(ANN)
    assert settings.is_teacher(Person("http://idp", "root-sub"))
    assert settings.device_slots() == 2 and ClassSettings().device_slots() == 1  # no GPU here
    with pytest.raises(ConfigError, match="unknown setting max_gpus"):
        ClassSettings.from_dict({"max_gpus": 1})
    with pytest.raises(ConfigError, match="max_disk_mb: -1 is not a whole number"):
        ClassSettings.from_dict({"max_disk_mb": -1})
    with pytest.raises(ConfigError, match="teachers: a list"):
        ClassSettings.from_dict({"teachers": "teacher@school.example"})


def test_a_persons_id_comes_from_the_identity_provider_not_a_typed_name():
    assert ANN.id == Person("http://idp", "ann-sub", "other@x", "Someone").id  # same identity
    assert ANN.id != Person("http://other-idp", "ann-sub").id  # same subject, other issuer
    assert ANN.id.startswith("p") and len(ANN.id) == 21 and ANN.id.isalnum()


def test_each_person_has_a_private_workspace_and_the_builtin_dataset_read_only(ws, tiny_dataset):
    shared = ws
    mine = person_workspace(shared, ANN, shared_datasets=(tiny_dataset,))
    theirs = person_workspace(shared, BOB, shared_datasets=(tiny_dataset,))
    assert mine.root != theirs.root and mine.root.parent == shared.root / "people"
    assert mine.dataset_names() == [tiny_dataset] and mine.is_shared(tiny_dataset)
    assert mine.prepared_cache(tiny_dataset).is_file()  # reads the shared cache
    with pytest.raises(DatasetError, match="shared by the whole class"):
        mine.delete_dataset(tiny_dataset)
    from dcgan.data.prepare import prepare_dataset

    assert prepare_dataset(mine, tiny_dataset).up_to_date  # as it is: fine
    with pytest.raises(DatasetError, match="shared by the whole class and kept as it is"):
        prepare_dataset(mine, tiny_dataset, size=32)  # would rewrite the shared cache
    assert shared.prepared_cache(tiny_dataset).is_file()
    listed = {person.id: w.root for person, w in classroom.people(shared)}
    assert listed == {ANN.id: mine.root, BOB.id: theirs.root}
    assert classroom.owner_of(shared, mine.root / "GAN_MODEL" / "00001-x") == ANN.id
    assert classroom.owner_of(shared, shared.root / "GAN_MODEL" / "00001-x") is None


@pytest.fixture
def started(monkeypatch):
    """The queue's job launches, recorded instead of run (a job 'alive' until ended)."""
    from dcgan.runs import jobs

    launched = []
    monkeypatch.setattr(jobs, "spawn_job", lambda ws, run_dir, extra_env=None:
                        launched.append((run_dir, extra_env)))
    monkeypatch.setattr(jobs, "job_alive", lambda run_dir: run_dir in [r for r, _ in launched]
                        and read_status(run_dir).get("state") != "done")
    return launched


def test_submitted_runs_take_turns_and_limits_name_themselves(ws, tiny_dataset, started):
    settings = ClassSettings(slots=1, max_queued=2, max_epochs=5, max_minutes=9)
    home = {p: person_workspace(ws, p, shared_datasets=(tiny_dataset,)) for p in (ANN, BOB)}
    config = tiny_config("dcgan", epochs=2)
    first = classroom.submit_job(ws, home[ANN], ANN.id, config, settings)
    assert [run for run, _ in started] == [first]  # a free slot: started at once
    env = started[0][1]
    assert env["DCGAN_MAX_MINUTES"] == "9" and env["DCGAN_QUEUE_SLOTS"] == "1"
    second = classroom.submit_job(ws, home[ANN], ANN.id, config, settings)
    bobs = classroom.submit_job(ws, home[BOB], BOB.id, config, settings)
    assert read_status(second)["waiting"] is True
    from dcgan.runs.jobs import job_state

    assert job_state(second) == "queued"  # waiting in the queue, not "crashed"
    queue = classroom.open_queue(ws, settings)
    assert [j.run_dir for j in queue.order()] == [bobs, second]  # bob has had no turn yet
    # limits, each refused with its name, nothing created
    runs_before = sorted(home[ANN].runs_dir.iterdir())
    with pytest.raises(QueueLimit, match="limit of 5 epochs per run"):
        classroom.submit_job(ws, home[ANN], ANN.id, config.with_overrides(epochs=6), settings)
    classroom.submit_job(ws, home[ANN], ANN.id, config, settings)  # ann's 2nd waiting run
    with pytest.raises(QueueLimit, match="limit is 2 queued runs per person"):
        classroom.submit_job(ws, home[ANN], ANN.id, config, settings)
    (home[ANN].root / "photos.bin").write_bytes(b"x" * 1_500_000)
    with pytest.raises(QueueLimit, match="takes 2 MB, the class's disk limit is 1 MB per"):
        classroom.submit_job(ws, home[ANN], ANN.id, config,
                             ClassSettings(slots=1, max_disk_mb=1))
    assert len(sorted(home[ANN].runs_dir.iterdir())) == len(runs_before) + 1
    # the first ends: bob's starts next
    from dcgan.runs.folder import update_status

    update_status(first, state="done")
    classroom.dispatch(ws, settings)
    assert [run for run, _ in started] == [first, bobs]
    # a waiting run taken out of the queue reads stopped; resubmitted, it waits again
    assert classroom.stop_run(ws, settings, second)
    assert read_status(second)["state"] == "stopped" and job_state(second) == "stopped"
    classroom.resubmit_job(ws, home[ANN], ANN.id, second, settings)
    assert job_state(second) == "queued" and queue.position(second) is not None


def test_a_job_that_exits_frees_the_device_for_the_next(ws, tiny_dataset, started):
    settings = ClassSettings(slots=1)
    home = {p: person_workspace(ws, p, shared_datasets=(tiny_dataset,)) for p in (ANN, BOB)}
    config = tiny_config("dcgan", epochs=2)
    first = classroom.submit_job(ws, home[ANN], ANN.id, config, settings)
    bobs = classroom.submit_job(ws, home[BOB], BOB.id, config, settings)
    from dcgan.runs.folder import update_status

    update_status(first, state="done")
    env = started[0][1]
    classroom.after_job(first, env)  # as the CLI's train does on its way out
    assert [run for run, _ in started] == [first, bobs]
    queue = classroom.open_queue(ws, settings)
    assert queue.job_of(first).state == "ended" and queue.job_of(bobs).state == "running"
    classroom.after_job(bobs, {})  # not from a queue: nothing happens
    assert queue.job_of(bobs).state == "running"


def test_a_run_whose_job_cannot_start_says_why(ws, tiny_dataset, monkeypatch):
    from dcgan.errors import DcganError
    from dcgan.runs import jobs

    def broken(ws, run_dir, extra_env=None):
        raise DcganError("the training job exited at once: out of memory")

    monkeypatch.setattr(jobs, "spawn_job", broken)
    home = person_workspace(ws, ANN, shared_datasets=(tiny_dataset,))
    run = classroom.submit_job(ws, home, ANN.id, tiny_config("dcgan"), ClassSettings(slots=1))
    status = read_status(run)
    assert status["state"] == "failed" and "out of memory" in status["error"]
    assert not status["waiting"]
    note = classroom.open_queue(ws, ClassSettings(slots=1)).job_of(run).note
    assert note == "could not start: the training job exited at once: out of memory"


def test_disk_counts_a_persons_own_files_not_the_shared_ones(ws, tiny_dataset):
    mine = person_workspace(ws, ANN, shared_datasets=(tiny_dataset,))
    before = classroom.disk_mb(mine)
    assert before < 0.01  # only person.json: the linked dataset is not theirs
    (mine.root / "big.bin").write_bytes(b"x" * 2_000_000)
    assert classroom.disk_mb(mine) == pytest.approx(before + 2.0, abs=0.01)
