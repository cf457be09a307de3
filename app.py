"""DCGAN Portrait Studio, home page: what the tool does and the state of the workspace.

Pages import `dcgan` modules that do not import TensorFlow, so this page appears quickly.
"""

import streamlit as st

from dcgan.workspace import Workspace

st.set_page_config(page_title="DCGAN Portrait Studio", page_icon=":art:", layout="wide")

ws = Workspace.from_env().ensure()
st.title("DCGAN Portrait Studio")
st.markdown(
    "Train a DCGAN that paints 64x64 portraits, on the built-in synthetic portraits or on "
    "your own photos, watch it learn, and explore what it learned.\n\n"
    "Data lives in the workspace: `DATA/DATASET` (imported images), `DATA/DATA_SCALE` "
    "(the prepared 64x64 cache) and `GAN_MODEL` (training runs)."
)
st.caption(f"Workspace: `{ws.root}`")

datasets = ws.list_datasets()
st.subheader("Datasets")
if not datasets:
    st.info("No dataset yet. Create the built-in one with `python -m dcgan bootstrap`.")
for info in datasets:
    prepared = "not prepared" if info.prepared_images is None else \
        f"{info.prepared_images:,} images prepared"
    st.write(f"**{info.name}**: {info.source_files:,} source files, {prepared}, "
             f"{info.bytes_on_disk / 1e6:.1f} MB")
    preview = ws.cache_dir(info.name) / "preview.png"
    if preview.is_file():
        st.image(str(preview), caption=f"{info.name}: first 64 prepared images", width=480)
