"""Serving a class in a real browser: an OpenID Connect provider (oidc-provider-mock, started
here), two students and a teacher signed in in separate browser contexts, their private
workspaces, the device queue and the teacher's Class page.

Every isolation attempt a student makes on another's work is listed in ATTEMPTS and must
fail with a clear message or show nothing of the other's.
"""

from __future__ import annotations

import json

import pytest

from dcgan.testing import free_port, running_app, settle, sign_in, write_class_secrets
from tests.e2e.conftest import shot
from tests.e2e.test_browser import (
    app_button,
    create_synthetic,
    fill_tiny_run,
    set_number,
    visible,
)

TEACHER = "teacher@school.example"
ANN, BOB = "ann@school.example", "bob@school.example"
# What bob tries against ann's work (test_two_students_and_a_teacher below):
ATTEMPTS = (
    "Train page: ann's run is not among bob's runs (the run selector lists his only)",
    "Explore page: ann's run is not among the generators bob can choose",
    "Dataset page: ann's dataset is not listed; importing ann's dataset folder by its path "
    "is refused",
    "Dataset page: importing the class's queue folder by its path is refused",
    "Class page opened by URL: refused (teachers only)",
    "Dataset page: the shared built-in dataset cannot be deleted or re-prepared",
)


@pytest.fixture
def class_app(tmp_path):
    """(app URL, workspace root) of the app serving a class, signing in at a provider."""
    pytest.importorskip("oidc_provider_mock")
    from oidc_provider_mock import run_server_in_thread

    from dcgan.data.builtin import BUILTIN_DATASET
    from dcgan.data.prepare import prepare_dataset
    from dcgan.data.synthetic import generate_dataset
    from dcgan.workspace import Workspace

    home = tmp_path / "home"
    shared = Workspace(home).ensure()
    generate_dataset(shared.dataset_dir(BUILTIN_DATASET), 96, seed=0, size=64, workers=1)
    prepare_dataset(shared, BUILTIN_DATASET, workers=1)
    with run_server_in_thread() as provider:
        port = free_port()
        secrets = write_class_secrets(tmp_path / "secrets.toml", port, provider.server_port,
                                      teachers=[TEACHER], slots=1, max_queued=2,
                                      max_epochs=400)
        with running_app(home, log=tmp_path / "streamlit.log", port=port, timeout=60,
                         args=["--secrets.files", str(secrets)]) as app:
            yield app.url, home
            _stop_all(home)


def _stop_all(home) -> None:
    import contextlib
    import os
    import signal

    for status in home.glob("people/*/GAN_MODEL/*/status.json"):
        pid = json.loads(status.read_text()).get("pid")
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def start_run(page, base: str, epochs: int) -> None:
    fill_tiny_run(page, base, epochs, quality_every=0)
    app_button(page, "Start").click()
    settle(page)


def test_two_students_and_a_teacher(class_app, chromium, tmp_path):
    base, home = class_app
    ann = sign_in(chromium, base, ANN)
    bob = sign_in(chromium, base, BOB)
    people = {json.loads(p.read_text())["email"]: p.parent
              for p in home.glob("people/*/person.json")}
    assert set(people) == {ANN, BOB}
    # Both see the shared built-in dataset; a student sees no Class link.
    assert bob.get_by_role("link", name="Class").count() == 0

    # Ann starts a long run: the device is free, it trains. Bob's run waits for his turn.
    start_run(ann, base, 300)
    ann.get_by_text("running · epoch").first.wait_for(timeout=120_000)
    start_run(bob, base, 3)
    bob.get_by_text("Waiting for the device: 1 of 1 in the queue").first.wait_for()
    shot(bob, "class-student-waiting")
    ann_run = next((people[ANN] / "GAN_MODEL").glob("0*")).name
    bob_run = next((people[BOB] / "GAN_MODEL").glob("0*")).name

    # A limit names itself: more epochs than the class allows.
    set_number(bob, "Epochs", 500)
    app_button(bob, "Start").click()
    bob.get_by_text("more than the class's limit of 400 epochs per run").wait_for()

    # --- isolation: what bob tries on ann's work (ATTEMPTS) ------------------------------
    # (both runs are numbered 00001 in their own workspaces: they differ by dataset name
    # only when the datasets differ, so the check is the number of runs listed)
    bob.goto(f"{base}/train")
    settle(bob)
    bob.get_by_role("combobox", name="Run", exact=True).click()
    options = bob.get_by_role("option")
    assert options.count() == 1 and options.first.inner_text().startswith(bob_run)
    bob.keyboard.press("Escape")

    ann_checkpoints = people[ANN] / "GAN_MODEL" / ann_run / "checkpoints"
    for _ in range(600):  # ann's run has a checkpoint to explore ...
        if any(ann_checkpoints.glob("ckpt-*")):
            break
        bob.wait_for_timeout(100)
    assert any(ann_checkpoints.glob("ckpt-*"))
    bob.goto(f"{base}/explore")  # ... which bob's Explore does not offer
    settle(bob)
    bob.get_by_text("Training run").click()
    bob.get_by_text("No run has a checkpoint yet").wait_for()

    create_synthetic(ann, base, "anns-portraits")
    bob.goto(f"{base}/dataset")
    settle(bob)
    assert "anns-portraits" not in bob.content()
    bob.get_by_role("tab", name="Server folder").click()
    for path in (people[ANN] / "DATA" / "DATASET" / "anns-portraits", home / "class"):
        visible(bob.get_by_label("Folder", exact=True)).fill(str(path))
        visible(bob.get_by_label("Name", exact=True)).fill("stolen")
        visible(bob.get_by_role("button", name="Import folder")).click()
        bob.get_by_text("is not inside an allowed folder").first.wait_for()
    assert not (people[BOB] / "DATA" / "DATASET" / "stolen").exists()

    bob.goto(f"{base}/classroom")
    settle(bob)
    bob.get_by_text("This page is for the class's teachers").wait_for()

    # --- the teacher sees everyone and stops bob's waiting run ---------------------------
    teacher = sign_in(chromium, base, TEACHER)
    teacher.get_by_role("link", name="Class").wait_for()  # a teacher's sidebar has the link
    teacher.goto(f"{base}/classroom")
    settle(teacher)
    table = teacher.get_by_test_id("stTable")
    table.wait_for()
    shot(teacher, "class-teacher")
    for who in (ANN, BOB):
        table.get_by_text(who).first.wait_for()
    stops = app_button(teacher, "Stop")
    assert stops.count() == 2  # ann's running job and bob's waiting one
    status = people[BOB] / "GAN_MODEL" / bob_run / "status.json"
    bob_id, ann_id = people[BOB].name, people[ANN].name
    teacher.locator(f".st-key-class_job_{bob_id}_{bob_run}").get_by_role(
        "button", name="Stop").click()
    teacher.get_by_text(f"Asked {BOB}'s run {bob_run} to stop").wait_for()
    assert json.loads(status.read_text())["state"] == "stopped"
    # and ann's job, through the same page
    teacher.locator(f".st-key-class_job_{ann_id}_{ann_run}").get_by_role(
        "button", name="Stop").click()
    teacher.get_by_text(f"Asked {ANN}'s run {ann_run} to stop").wait_for()
    ann_status = people[ANN] / "GAN_MODEL" / ann_run / "status.json"
    for _ in range(600):
        if json.loads(ann_status.read_text())["state"] == "stopped":
            break
        ann.wait_for_timeout(100)
    assert json.loads(ann_status.read_text())["state"] == "stopped"
