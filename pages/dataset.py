"""Dataset page: import images (built-in, upload, server folder, URL), report, prepare."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from dcgan.data.builtin import BUILTIN_COUNT, BUILTIN_DATASET
from dcgan.data.crop_report import crop_sheet, crop_summary, few_faces_advice, not_used
from dcgan.data.faces import DEFAULT_ZOOM, MIN_CONFIDENCE, MIN_FACE, FaceCrop
from dcgan.data.images import image_grid
from dcgan.data.ingest import ImportLimits, import_files, import_folder, import_url
from dcgan.data.prepare import prepare_dataset, resolve_crop
from dcgan.data.synthetic import generate_dataset
from dcgan.errors import DcganError
from dcgan.runs import classroom
from dcgan.workspace import allowed_roots, check_name
from pages.common import current_serving, rerun_with, show_error, show_flash, workspace

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


@st.cache_data(max_entries=4, show_spinner=False)
def _sheet(name: str, count: int | None, cache_dir: str):
    """The crop sheet of a prepared cache (count and folder key the cache)."""
    manifest = json.loads((Path(cache_dir) / "manifest.json").read_text())
    images = np.load(Path(cache_dir) / "images.npy", mmap_mode="r")
    return crop_sheet(ws.dataset_dir(name), manifest, images)


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
            served = current_serving()
            if served.mode == "class":  # never another person's workspace
                classroom.check_folder(served.shared, ws, path)
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

manifest = {}
with contextlib.suppress(OSError, ValueError):
    manifest = json.loads((ws.cache_dir(choice) / "manifest.json").read_text())
crops = {"face": "Faces: find and align every face", "center": "Centre square"}
default_crop = manifest.get("settings", {}).get("crop") or resolve_crop(ws, choice, "auto")
c1, c2 = st.columns([2, 1])
crop = c1.radio("Crop", list(crops), index=list(crops).index(default_crop),
                format_func=crops.get, horizontal=True, key=f"dataset_crop_{choice}",
                help="Faces: each face is found (MTCNN), turned upright by its eyes and mouth "
                     "and framed like CelebA-64 (FFHQ's alignment). Centre square: the "
                     "largest centred square, for pictures that are not photos of faces.")
face = FaceCrop()
if crop == "face":
    which = c2.radio("Faces in a photo", ["all", "largest"], horizontal=True,
                     key=f"dataset_faces_{choice}")
    with st.expander("Face crop settings"):
        f1, f2, f3 = st.columns(3)
        zoom = f1.slider("Framing (zoom)", 0.8, 2.0, DEFAULT_ZOOM, 0.05,
                         key=f"dataset_zoom_{choice}",
                         help="1 is FFHQ's framing (hair, neck, background); 1.4 CelebA-64's")
        min_face = f2.number_input("Smallest face (px)", 16, 1024, MIN_FACE,
                                   key=f"dataset_min_face_{choice}")
        confidence = f3.slider("Lowest confidence", 0.5, 0.99, MIN_CONFIDENCE, 0.01,
                               key=f"dataset_confidence_{choice}")
    face = FaceCrop(which, zoom, int(min_face), confidence)
if st.button("Prepare the 64x64 cache" if info.prepared_images is None else
             "Refresh the 64x64 cache", key="dataset_prepare"):
    try:
        result = prepare_dataset(ws, choice, crop=crop, face=face,
                                 progress_fn=_progress("Finding faces" if crop == "face"
                                                       else "Preparing"))
        rerun_with(f"{choice}: {result.count:,} images ready ("
                   + ("faces" if result.crop == "face" else "centre crops")
                   + (", already up to date)" if result.up_to_date else ")"), "prepare")
    except DcganError as exc:
        show_error(exc, "Import more images or check the skipped files above.")
show_flash("prepare")
if manifest and info.prepared_images is not None:
    summary = crop_summary(manifest)
    if summary["crop"] == "face":
        made = summary["settings"]
        st.caption(f"This cache holds **aligned faces** (zoom {made.get('face_zoom')}, "
                   f"{made.get('faces')} faces of a photo).")
        m = st.columns(4)
        m[0].metric("Photos", f"{summary['photos']:,}")
        m[1].metric("Faces used", f"{summary['images']:,}")
        m[2].metric("Photos without a face", f"{summary['no_face']:,}")
        m[3].metric("Faces too small", f"{summary['face_skips'].get('face-too-small', 0):,}")
        advice = few_faces_advice(summary)
        if advice:
            st.warning(advice)
        others = {k: v for k, v in summary["face_skips"].items() if k != "face-too-small"}
        if others:
            st.caption("Other faces not used: "
                       + ", ".join(f"{count} {reason}" for reason, count in others.items()))
        skipped_rows = not_used(manifest)
        if skipped_rows:
            with st.expander(f"Photos and faces not used ({len(skipped_rows)}) and why"):
                st.dataframe(skipped_rows, width="stretch", hide_index=True)
        sheet = _sheet(choice, manifest.get("count"), str(ws.cache_dir(choice)))
        if sheet is not None:
            st.image(sheet, caption="The first photos with the faces found (green: used, red: "
                     "not used; dots: eyes, nose, mouth corners), and the aligned 64x64 images "
                     "made from them", width="stretch")
    else:
        st.caption("This cache holds **centre squares** of the images.")
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
