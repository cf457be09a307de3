"""Dataset page: import images (built-in, upload, server folder, URL), report, prepare."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from dcgan.data.builtin import BUILTIN_COUNT, BUILTIN_DATASET
from dcgan.data.images import image_grid
from dcgan.data.ingest import ImportLimits, import_files, import_folder, import_url
from dcgan.data.prepare import prepare_dataset
from dcgan.data.synthetic import generate_dataset
from dcgan.errors import DcganError
from dcgan.workspace import allowed_roots, check_name
from pages.common import rerun_with, show_error, show_flash, workspace

MiB = 1024 * 1024
LIMITS = ImportLimits()
UPLOAD_TYPES = ["zip", "jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]

ws = workspace()
st.title("Dataset")
st.caption("Import portraits into `DATA/DATASET`, then prepare the 64x64 cache the trainer "
           f"reads (`DATA/DATA_SCALE`). Workspace: `{ws.root}`")


def _progress(label: str):
    bar = st.progress(0.0, text=label)
    return lambda done, total: bar.progress(min(done / max(total, 1), 1.0),
                                            text=f"{label} {done:,}/{total:,}")


def _select(name: str) -> None:
    """Show `name` in the datasets section below (set before its selectbox is drawn)."""
    st.session_state["dataset_last"] = name
    st.session_state["dataset_choice"] = name


def _after_import(name: str, report, slot: str) -> None:
    _select(name)
    rerun_with(f"**{name}**: {report.summary()}", slot)


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except DcganError as exc:
        show_error(exc)
        return False
    if ws.dataset_dir(name).exists():
        st.error(f"A dataset named **{name}** exists already: choose another name or delete "
                 "it below.")
        return False
    return True


builtin, upload, folder, url = st.tabs(
    ["Built-in synthetic portraits", "Upload images or a zip", "Server folder", "URL of a zip"])

with builtin:
    st.write("Procedural head-and-shoulders portraits, drawn offline, the same for a seed.")
    c1, c2, c3 = st.columns(3)
    name = c1.text_input("Name", BUILTIN_DATASET, key="dataset_synth_name")
    count = c2.number_input("Portraits", 64, 100_000, BUILTIN_COUNT, step=500,
                            key="dataset_synth_count")
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="dataset_synth_seed")
    if st.button("Create the synthetic portraits", type="primary", key="dataset_synth_go") \
            and _valid_name(name):
        try:
            generate_dataset(ws.dataset_dir(name), int(count), int(seed),
                             progress_fn=_progress("Drawing portraits"))
            prepare_dataset(ws, name, progress_fn=_progress("Preparing 64x64 cache"))
            _select(name)
            rerun_with(f"**{name}**: {int(count):,} portraits created and prepared.", "synth")
        except DcganError as exc:
            show_error(exc)
    show_flash("synth")

with upload:
    files = st.file_uploader(
        "Images (JPEG, PNG, WebP, BMP, GIF, TIFF) or one zip, up to "
        f"{LIMITS.max_source_bytes // MiB:,} MiB",
        type=UPLOAD_TYPES, accept_multiple_files=True, key="dataset_upload_files")
    name = st.text_input("Name", "my-photos", key="dataset_upload_name")
    if st.button("Import upload", type="primary", disabled=not files,
                 key="dataset_upload_go") and _valid_name(name):
        try:
            report = import_files(ws, [(f.name, f.getvalue()) for f in files], name,
                                  limits=LIMITS, progress_fn=_progress("Importing"))
            _after_import(name, report, "upload")
        except DcganError as exc:
            show_error(exc, "Check the files and try again; nothing was imported.")
    show_flash("upload")

with folder:
    roots = allowed_roots()
    where = ", ".join(f"`{r}`" for r in roots) if roots else f"the workspace `{ws.root}`"
    st.write(f"A folder on this server, read only inside {where} "
             "(set `DCGAN_ALLOWED_ROOTS` to allow other folders).")
    path = st.text_input("Folder", key="dataset_folder_path")
    name = st.text_input("Name", "server-photos", key="dataset_folder_name")
    if st.button("Import folder", type="primary", disabled=not path,
                 key="dataset_folder_go") and _valid_name(name):
        try:
            report = import_folder(ws, path, name, from_app=True, limits=LIMITS,
                                   progress_fn=_progress("Importing"))
            _after_import(name, report, "folder")
        except DcganError as exc:
            show_error(exc)
    show_flash("folder")

with url:
    st.write(f"An http(s) link to a zip of images (at most {LIMITS.max_source_bytes // MiB:,} "
             f"MiB, {LIMITS.url_timeout_s:.0f} s).")
    link = st.text_input("URL", key="dataset_url_link", placeholder="https://.../faces.zip")
    name = st.text_input("Name", "web-photos", key="dataset_url_name")
    if st.button("Download and import", type="primary", disabled=not link,
                 key="dataset_url_go") and _valid_name(name):
        try:
            with st.spinner("Downloading..."):
                report = import_url(ws, link, name, limits=LIMITS)
            _after_import(name, report, "url")
        except DcganError as exc:
            show_error(exc)
    show_flash("url")

st.divider()
st.subheader("Datasets in the workspace")
infos = ws.list_datasets()
if not infos:
    st.info("No dataset yet: create the built-in synthetic portraits above.")
    st.stop()
names = [i.name for i in infos]
last = st.session_state.get("dataset_last")
if st.session_state.get("dataset_choice") not in names:
    st.session_state.pop("dataset_choice", None)
choice = st.selectbox("Dataset", names, index=names.index(last) if last in names else 0,
                      format_func=lambda n: next(
                          f"{i.name} — {i.source_files:,} files, "
                          + ("not prepared" if i.prepared_images is None
                             else f"{i.prepared_images:,} prepared")
                          + f", {i.bytes_on_disk / 1e6:.1f} MB" for i in infos if i.name == n),
                      key="dataset_choice")
info = next(i for i in infos if i.name == choice)
report = {}
with contextlib.suppress(OSError, ValueError):
    report = json.loads((ws.dataset_dir(choice) / "import_report.json").read_text())

cols = st.columns(4)
cols[0].metric("Imported", f"{report.get('imported', info.source_files):,}")
cols[1].metric("Skipped", f"{len(report.get('skipped', [])):,}")
cols[2].metric("Duplicates", f"{len(report.get('duplicates', [])):,}")
cols[3].metric("Prepared", "—" if info.prepared_images is None else f"{info.prepared_images:,}")
if report.get("skipped"):
    with st.expander(f"Skipped files ({len(report['skipped'])}) and why"):
        st.dataframe(report["skipped"], width="stretch", hide_index=True)
if report.get("duplicates"):
    with st.expander(f"Duplicates dropped ({len(report['duplicates'])})"):
        st.dataframe(report["duplicates"], width="stretch", hide_index=True)

left, right = st.columns(2)
with left:
    files = sorted(p for p in ws.dataset_dir(choice).iterdir()
                   if p.suffix.lower() in (".png", ".jpg"))[:16]
    if files:
        thumbs = []
        for p in files:
            with Image.open(p) as img:
                thumbs.append(np.asarray(img.convert("RGB").resize((64, 64))))
        st.image(image_grid(np.stack(thumbs), columns=8), caption="First imported images",
                 width="stretch")
with right:
    sizes = report.get("sizes") or []
    if sizes:
        short = [min(w, h) for w, h in sizes]
        fig = go.Figure(go.Histogram(x=short, nbinsx=30))
        fig.update_layout(title="Shorter side of the source images (px)", height=260,
                          margin={"l": 10, "r": 10, "t": 40, "b": 10})
        st.plotly_chart(fig, width="stretch", key="dataset_sizes_chart")

if st.button("Prepare the 64x64 cache" if info.prepared_images is None else
             "Refresh the 64x64 cache", key="dataset_prepare"):
    try:
        result = prepare_dataset(ws, choice, progress_fn=_progress("Preparing"))
        rerun_with(f"{choice}: {result.count:,} images ready"
                   + (" (already up to date)" if result.up_to_date else ""), "prepare")
    except DcganError as exc:
        show_error(exc, "Import more images or check the skipped files above.")
show_flash("prepare")
preview = ws.cache_dir(choice) / "preview.png"
if info.prepared_images is not None and preview.is_file():
    st.image(str(preview), caption=f"{choice}: the prepared 64x64 cache (first 64)", width=520)

with st.expander("Delete this dataset"):
    sure = st.checkbox(f"Yes, delete **{choice}** (images and cache)", key="dataset_delete_sure")
    if st.button("Delete", disabled=not sure, key="dataset_delete"):
        ws.delete_dataset(choice)
        st.session_state.pop("dataset_last", None)
        st.session_state.pop("dataset_choice", None)
        st.rerun()
