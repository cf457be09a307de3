"""Class page (teachers only, when the app serves a class): everyone's runs, the device
queue, Stop for any job, and the class's limits."""

from __future__ import annotations

import streamlit as st

from dcgan.runs import classroom
from dcgan.runs.folder import MetricsTail, write_json_atomic
from dcgan.runs.jobs import runs_with_state
from pages.common import (
    current_serving,
    image_bytes,
    rerun_with,
    show_error,
    show_flash,
    state_label,
    workspace,
)

workspace()
served = current_serving()
st.title("Class")
if served.mode != "class" or not served.teacher:
    st.error("This page is for the class's teachers (listed in `[class] teachers` of the "
             "app's secrets.toml) when the app serves a class.")
    st.stop()


@st.cache_resource(show_spinner=False, max_entries=500)
def _tail(run_dir: str) -> MetricsTail:
    from pathlib import Path

    return MetricsTail(Path(run_dir))


def _latest_swd(run_dir) -> str:
    evals = [r for r in _tail(str(run_dir)).read() if r.get("kind") == "eval" and "swd" in r]
    return f"{evals[-1]['swd']:.1f}" if evals else "—"


settings = served.settings
queue = classroom.open_queue(served.shared, settings)
order = {job.run_dir: i for i, job in enumerate(queue.order(), start=1)}
everyone = classroom.people(served.shared)
rows, active = [], []
for person, ws in everyone:
    for run in runs_with_state(ws):
        rows.append({"person": person.label, "e-mail": person.email or "", "run": run.run_id,
                     "state": state_label(run.state, icon=False),
                     "epoch": f"{run.epoch}/{run.epochs}", "SWD": _latest_swd(run.path),
                     "queue": order.get(run.path, "")})
        if run.state in ("running", "queued", "stopping"):
            active.append((person, run))
c1, c2, c3 = st.columns(3)
c1.metric("People signed in so far", len(everyone))
c2.metric("Training now", len(queue.jobs("running")))
c3.metric("Waiting", len(order))
if rows:
    st.table(rows)  # every run, its owner and state (text a teacher can search)
else:
    st.info("No runs yet in this class.")

if active:
    st.subheader("Jobs running or waiting")
for person, run in active:
    with st.container(border=True, key=f"class_job_{person.id}_{run.run_id}"):
        left, right = st.columns([3, 1])
        left.markdown(f"**{person.label}** · `{run.run_id}` · {state_label(run.state)} · "
                      f"epoch {run.epoch}/{run.epochs}")
        samples = sorted((run.path / "samples").glob("epoch_*.png"))
        if samples:
            left.image(image_bytes(samples[-1]), width=320, caption=samples[-1].stem)
        if right.button("Stop", key=f"class_stop_{person.id}_{run.run_id}",
                        disabled=run.state == "stopping"):
            classroom.stop_run(served.shared, settings, run.path)
            rerun_with(f"Asked {person.label}'s run {run.run_id} to stop.", "class_stop")
show_flash("class_stop")

st.subheader("Limits")
with st.form("class_limits"):
    c1, c2, c3 = st.columns(3)
    values = {
        "slots": c1.number_input("Jobs at once (0 = one per GPU)", 0, 64, settings.slots),
        "max_queued": c2.number_input("Waiting runs per person", 0, 100, settings.max_queued),
        "max_disk_mb": c3.number_input("Disk per person (MB)", 0, 10**7, settings.max_disk_mb),
        "max_epochs": c1.number_input("Epochs per run", 0, 100_000, settings.max_epochs),
        "max_minutes": c2.number_input("Minutes per run", 0, 100_000, settings.max_minutes),
    }
    st.caption("0 means no limit (for jobs at once: one per GPU). Saved for the whole class "
               "at once; the teachers' list stays in secrets.toml.")
    if st.form_submit_button("Save limits"):
        try:
            classroom.ClassSettings.from_dict({k: int(v) for k, v in values.items()})
            write_json_atomic(served.shared.root / classroom.CLASS_DIR / "limits.json",
                              {k: int(v) for k, v in values.items()})
            rerun_with("Limits saved.", "class_limits")
        except Exception as exc:
            show_error(exc)
show_flash("class_limits")
