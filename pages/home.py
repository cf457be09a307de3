"""Home page: what the tool does, the state of the workspace, quick starts."""

from __future__ import annotations

import streamlit as st

from dcgan.data.builtin import BUILTIN_DATASET, ensure_builtin_dataset
from dcgan.errors import DcganError
from dcgan.explore.export import demo_available
from dcgan.runs.jobs import active_run, runs_with_state
from dcgan.system import device_summary
from pages.common import show_error, workspace

ws = workspace()
st.title("DCGAN Portrait Studio")
st.markdown(
    "Train a DCGAN that paints **64x64 portraits** on the built-in synthetic portraits or on "
    "your own photos.  \nWatch it learn: live loss curves and a sample grid every epoch.  \n"
    "Then explore what it learned, and download the portraits.")


@st.cache_data(ttl=600, show_spinner=False)
def _device() -> str:
    return device_summary()


datasets = ws.list_datasets()
runs = runs_with_state(ws)
running = active_run(ws)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Datasets", len(datasets))
c2.metric("Prepared images", f"{sum(d.prepared_images or 0 for d in datasets):,}")
c3.metric("Runs", len(runs))
c4.metric("Device", _device())
if running is not None:
    st.info(f"Training now: **{running.name}**. The Train page shows it live.")

st.subheader("Quick start")
q1, q2, q3 = st.columns(3)
if q1.button("Use the built-in synthetic portraits", type="primary", key="home_builtin"):
    try:
        with st.spinner("Drawing and preparing the synthetic portraits..."):
            ensure_builtin_dataset(ws)
        st.session_state["dataset_last"] = BUILTIN_DATASET
        st.switch_page("pages/dataset.py")
    except DcganError as exc:
        show_error(exc)
if q2.button("Train", key="home_train"):
    st.switch_page("pages/train.py")
if q3.button("Explore the demo generator", key="home_explore", disabled=not demo_available(),
             help=None if demo_available() else "assets/demo/generator.keras is missing"):
    st.session_state["explore_source"] = "Bundled demo"
    st.switch_page("pages/explore.py")

if datasets:
    st.subheader("Datasets")
    st.dataframe([{"dataset": d.name, "files": d.source_files,
                   "prepared": d.prepared_images or 0, "MB": round(d.bytes_on_disk / 1e6, 1)}
                  for d in datasets], hide_index=True, width="stretch")
if runs:
    st.subheader("Runs")
    st.dataframe([{"run": r.run_id, "state": r.state, "dataset": r.dataset,
                   "preset": r.preset, "epoch": f"{r.epoch}/{r.epochs}"} for r in runs],
                 hide_index=True, width="stretch")
st.caption(f"Workspace: `{ws.root}`")
