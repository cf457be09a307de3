"""Explore page: one portrait under latent sliders, grids, interpolations, labelled directions.

TensorFlow loads only when a generator is first opened (st.cache_resource), not with the page.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

from dcgan.data.builtin import BUILTIN_DATASET
from dcgan.data.cache import CacheReader
from dcgan.data.images import image_grid
from dcgan.errors import DcganError
from dcgan.explore.bundle import card_for, card_summary, read_bundle, write_bundle
from dcgan.explore.export import (
    DEMO_GENERATOR,
    demo_available,
    gif_bytes,
    grid_png,
    latent_json,
    latent_npy,
    load_demo_directions,
    load_demo_generator,
    load_generator_file,
    load_latent,
    load_run_generator,
    mp4_bytes,
    png_bytes,
    portraits_zip,
    upscale,
)
from dcgan.explore.latent import (
    PCA_COMPONENTS,
    PCA_SAMPLES,
    apply_directions,
    interpolate,
    labelled_direction,
    load_pca,
    pca_cache_file,
    pca_directions,
    save_pca,
    truncate,
    z_from_seed,
    z_from_seeds,
)
from dcgan.explore.live import MAX_FRAME_MS, NotLive, describe
from dcgan.explore.projection import Projector, Settings, photo_pixels, run_discriminator
from dcgan.quality.evaluator import eval_split
from dcgan.quality.nearest import nearest_images
from dcgan.runs.folder import list_runs, load_directions, save_direction
from dcgan.train.checkpoints import list_checkpoints
from pages.common import show_error, workspace
from pages.live_portrait import live_portrait

ws = workspace()
st.title("Explore")
SLIDERS = PCA_COMPONENTS


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", Path(name).stem).strip("-")[:40] or "photo"


@st.cache_resource(show_spinner="Loading the generator...", max_entries=4)
def _run_generator(run_path: str, checkpoint: str):
    return load_run_generator(Path(run_path), Path(run_path) / "checkpoints" / checkpoint)


@st.cache_resource(show_spinner="Loading the demo generator...")
def _demo_generator():
    return load_demo_generator()


@st.cache_resource(show_spinner="Checking the uploaded generator...", max_entries=2)
def _uploaded_generator(digest: str, name: str, _data: bytes):
    """A .keras / .h5 file, or a bundle (zip): (generator, bundle or None)."""
    if name.lower().endswith(".zip"):
        bundle = read_bundle(_data)
        return bundle.generator, bundle
    return load_generator_file(_data, name), None


@st.cache_resource(show_spinner="Preparing the projector...", max_entries=2)
def _projector(key: str, _generator, run_path: str | None, checkpoint: str | None):
    """A Projector for the generator `key` names; a run's checkpoint adds its discriminator."""
    discriminator = run_discriminator(Path(run_path), Path(run_path) / "checkpoints" /
                                      checkpoint) if run_path else None
    return Projector(_generator, discriminator)


# --- PCA directions: after the first portrait, then from memory or disk ------------------------


@st.cache_resource
def _pca_memory() -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], threading.Lock]:
    return {}, threading.Lock()  # shared by the sessions of this server; 16 kept


def _pca_known(key: str, cache_file: Path | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The generator's PCA directions if computed already (this server, or on disk)."""
    memory, lock = _pca_memory()
    with lock:
        if key in memory:
            return memory[key]
    found = load_pca(cache_file) if cache_file is not None else None
    if found is not None:
        _remember(key, found)
    return found


def _remember(key: str, found: tuple[np.ndarray, np.ndarray]) -> None:
    memory, lock = _pca_memory()
    with lock:
        while len(memory) >= 16:
            memory.pop(next(iter(memory)))
        memory[key] = found


def _pca_compute(key: str, generator, cache_file: Path | None) -> None:
    found = pca_directions(generator.features, generator.latent_dim, samples=PCA_SAMPLES,
                           components=SLIDERS)
    if cache_file is not None:
        save_pca(cache_file, *found)
    _remember(key, found)


# --- which generator --------------------------------------------------------------------------
runs = [r for r in list_runs(ws) if list_checkpoints(r.path)]
sources = (["Bundled demo"] if demo_available() else []) + ["Training run", "Upload a generator"]
source = st.radio("Generator", sources, horizontal=True, key="explore_source")
generator, run_dir, checkpoint, bundle = None, None, None, None
try:
    if source == "Bundled demo":
        generator = _demo_generator()
    elif source == "Training run":
        if not runs:
            st.info("No run has a checkpoint yet: train one on the Train page, or upload a "
                    "generator.")
            st.stop()
        c1, c2 = st.columns(2)
        run_id = c1.selectbox("Run", [r.run_id for r in runs], key="explore_run")
        run_dir = ws.runs_dir / run_id
        names = [p.name for p in reversed(list_checkpoints(run_dir))]
        checkpoint = c2.selectbox("Checkpoint", names, key="explore_ckpt")
        generator = _run_generator(str(run_dir), checkpoint)
    else:
        upload = st.file_uploader("Generator: a bundle (.zip, from Export) or a .keras / .h5 "
                                  "file, loaded in Keras safe mode",
                                  type=["zip", "keras", "h5"], key="explore_upload")
        if upload is None:
            st.stop()
        data = upload.getvalue()
        generator, bundle = _uploaded_generator(hashlib.sha256(data).hexdigest(), upload.name,
                                                data)
except DcganError as exc:
    show_error(exc, "Choose another checkpoint or file.")
    st.stop()
st.caption(f"{generator.label} · latent size {generator.latent_dim}"
           + (f" · {card_summary(bundle.card)}" if bundle is not None else ""))
if "explore_flash" in st.session_state:
    st.success(st.session_state.pop("explore_flash"))

# Keyed by the generator object too: two uploads may share a file name. Stored generators
# (a checkpoint, the demo) keep their directions on disk too; the first time, the page draws
# the portrait first and computes them at its end (then reruns with their sliders).
pca_source = (run_dir / "checkpoints" / checkpoint if run_dir is not None else
              DEMO_GENERATOR if source == "Bundled demo" else None)
try:
    pca_file = pca_cache_file(ws.pca_dir, pca_source, PCA_SAMPLES, SLIDERS) if pca_source \
        else None
except OSError:  # the checkpoint was pruned meanwhile: directions in memory only
    pca_file = None
pca_key = f"{generator.label}|{id(generator)}"
if bundle is not None and bundle.pca is not None:  # the bundle brought its directions
    _remember(pca_key, bundle.pca)
pca = _pca_known(pca_key, pca_file)
directions, explained = pca if pca is not None else (
    np.zeros((0, generator.latent_dim), np.float32), np.zeros(0, np.float32))
named: dict[str, np.ndarray] = {}
try:
    if source == "Bundled demo":  # the named directions shipped with it (its model card)
        named = load_demo_directions(generator.latent_dim)
except DcganError as exc:
    show_error(exc, "The demo's sliders fall back to unnamed PCA directions.")
if bundle is not None:
    named.update(bundle.directions)
if run_dir is not None:
    named.update({name: np.asarray(vector, np.float32)
                  for name, vector in load_directions(run_dir).items()
                  if len(vector) == generator.latent_dim})
# A PCA component that a named direction already is (|cos| > 0.99) is shown once, named.
keep = [i for i, d in enumerate(directions)
        if all(abs(float(d @ v)) / float(np.linalg.norm(v)) <= 0.99 for v in named.values())]
pca_names = list(named) + [f"PC{i + 1}" for i in keep]
direction_names = list(named) + [f"PC{i + 1} ({explained[i]:.0%})" for i in keep]
directions = np.vstack([np.asarray(v, np.float32)[None] for v in named.values()]
                       + [directions[keep]])


with st.expander("Export this generator: one zip to share, or to upload here later"):
    st.caption("The generator (.keras), its card (latent size, output range, preset and "
               "config, training data, epoch, SWD and MS-SSIM with the real floor), its named "
               f"directions ({len(named)}) and its PCA directions. Upload it under "
               "**Upload a generator** to get all of them back.")
    if st.button("Make the bundle", key="explore_export", disabled=pca is None,
                 help="waiting for the PCA directions" if pca is None else None):
        with st.spinner("Saving the generator..."):
            made = write_bundle(generator, card_for(
                generator, run_dir, run_dir / "checkpoints" / checkpoint if run_dir else None,
                demo=source == "Bundled demo") if bundle is None else bundle.card, named, pca)
        st.session_state["explore_bundle"] = (pca_key, made)
    made = st.session_state.get("explore_bundle")
    if made and made[0] == pca_key:
        st.download_button(f"Download the bundle ({len(made[1]) / 2**20:.1f} MiB)", made[1],
                           f"{_slug(generator.label)}-bundle.zip", "application/zip",
                           key="explore_dl_bundle")


def _reset() -> None:
    for key in list(st.session_state):
        if key.startswith(("explore_dir_", "explore_raw_")):
            st.session_state[key] = 0.0
    st.session_state["explore_live_amounts"] = None  # the live sliders: set again, at 0
    st.session_state["explore_live_gen"] = st.session_state.get("explore_live_gen", 0) + 1


LIVE_PATHS = {"wasm": "WebAssembly SIMD", "webgl2": "WebGL2", "cpu": "JavaScript"}


@st.cache_resource(show_spinner=False, max_entries=4)
def _live_model(key: str, _generator):
    """(description, weights as an Arrow table) of the generator `key` names, or why not."""
    import pyarrow as pa

    try:
        description = describe(_generator.model)
    except NotLive as exc:
        return str(exc)
    return description, pa.table({"w": description.weights})


def _live_amounts(count: int, reported=None) -> np.ndarray:
    """The live sliders' amounts: the component's latest report when it is new (a Reset
    leaves its older report behind), padded or cut to `count` sliders."""
    seen = st.session_state.get("explore_live_seen")
    if reported is not None and list(reported) != seen:
        st.session_state["explore_live_seen"] = list(reported)
        st.session_state["explore_live_amounts"] = list(reported)
    kept = st.session_state.get("explore_live_amounts") or []
    out = np.zeros(count, np.float32)
    out[:min(count, len(kept))] = kept[:count]
    return out


def _stop_search() -> None:
    if "explore_search" in st.session_state:
        st.session_state["explore_search"]["search"].stop()


def _randomise() -> None:
    st.session_state["explore_seed"] = int(np.random.default_rng().integers(0, 2**31 - 1))
    _drop_base()


# --- photos projected into this generator: {name: Projection}, kept while it stays open -------
if st.session_state.get("explore_photos_for") != pca_key:
    st.session_state["explore_photos_for"] = pca_key
    st.session_state["explore_photos"] = {}
    _stop_search()  # a search into the previous generator would run on, unseen, to its end
    for stale in ("explore_base", "explore_search"):
        st.session_state.pop(stale, None)
photos: dict = st.session_state["explore_photos"]
MAX_PHOTOS = 8


def _rerun_fragment() -> None:
    """Run the calling fragment again: alone in a fragment's own run, else the whole page
    (a fragment-scoped rerun is refused inside a full run, e.g. AppTest's clicks)."""
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


def _drop_base() -> None:
    """Back to seeds: the Portrait tab's starting latent is the seed's again."""
    st.session_state.pop("explore_base", None)


def _use_photo(name: str) -> None:
    st.session_state["explore_base"] = name


# A tab is drawn from the first time it is opened on: Streamlit forgets the values of widgets
# a run does not draw, so a tab once opened draws its widgets on every run, but its portraits,
# grids and GIFs only while open (a switch of tab reruns the page). A tab never opened has
# no values to keep: not drawing it takes a fifth off the live portrait's first frame after
# a reload (BENCHMARKS.md, Explorer; DECISIONS.md).
TABS = ["Portrait", "Your photo", "Grid", "Interpolation", "Label a direction",
        "Compare checkpoints"]
portrait, photo, grid, interp, label, compare = tabs = st.tabs(TABS, key="explore_tab",
                                                                on_change="rerun")
opened: set = st.session_state.setdefault("explore_tabs_opened", set())
opened.update(name for name, tab in zip(TABS, tabs, strict=True) if tab.open)

if "explore_pending_seed" in st.session_state:  # "Use this seed" on the Grid tab
    st.session_state["explore_seed"] = st.session_state.pop("explore_pending_seed")


@st.fragment
def portrait_view() -> None:
    """Slider moves rerun this fragment only: ~11 ms of generator + PNG per move."""
    left, right = st.columns([2, 3])
    with left:
        base = photos.get(st.session_state.get("explore_base"))
        seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="explore_seed",
                               on_change=_drop_base)
        b1, b2 = st.columns(2)
        b1.button("Randomise", on_click=_randomise, key="explore_random")
        b2.button("Reset sliders", on_click=_reset, key="explore_reset")
        psi = st.slider("Truncation (1 = none)", 0.0, 1.0, 1.0, 0.05, key="explore_psi")
        cut = st.number_input("Resample components beyond (0 = off)", 0.0, 4.0, 0.0, 0.25,
                              key="explore_cut")
        raw = st.toggle("Raw latent dimensions", key="explore_rawdims")
        live = _live_model(pca_key, generator)
        slow = st.session_state.setdefault("explore_live_slow", {}).get(pca_key)
        live_on = st.toggle("Live portrait (runs in your browser)", True, key="explore_live",
                            help="the sliders move the portrait as you drag them; off: the "
                                 "server renders it after each move")
        use_live = live_on and not raw and not isinstance(live, str) and slow is None
        if live_on and not raw and isinstance(live, str):
            st.caption(f"The portrait renders on the server: {live}.")
        elif live_on and not raw and slow is not None:
            st.caption(f"The portrait renders on the server: your browser took {slow:.0f} ms "
                       f"per portrait with this generator (over {MAX_FRAME_MS:.0f} ms).")
        if base is None:
            z = truncate(z_from_seed(int(seed), generator.latent_dim), psi, cut or None,
                         int(seed))
            tag, caption = f"seed{seed:06d}", f"seed {seed}"
        else:  # a projected photo: the sliders and truncation act on its latent
            name = st.session_state["explore_base"]
            z = truncate(base.z, psi)
            tag, caption = f"photo-{_slug(name)}", f"from your photo {name}"
            st.info(f"Starting from your photo **{name}** (projected: RMS "
                    f"{base.rms:.1f} grey levels).")
            st.button("Back to the seed", on_click=_drop_base, key="explore_unphoto")
        if raw:
            pages = max(1, -(-generator.latent_dim // SLIDERS))
            page = st.number_input("Dimensions page", 1, pages, 1, key="explore_dim_page")
            for d in range((page - 1) * SLIDERS, min(page * SLIDERS, generator.latent_dim)):
                z[d] += st.slider(f"z[{d}]", -3.0, 3.0, 0.0, 0.1, key=f"explore_raw_{d}")
        elif not use_live:
            amounts = np.array([st.slider(name, -3.0, 3.0, 0.0, 0.1,
                                          key=f"explore_dir_{pca_names[i]}")
                                for i, name in enumerate(direction_names)], np.float32)
            z = apply_directions(z, directions, amounts)
        if not raw and pca is None:
            st.caption("Sliders for the main directions (PCA of "
                       f"{PCA_SAMPLES:,} samples) appear in a moment...")
        loaded = st.file_uploader("Load a saved latent (.npy or .json)", type=["npy", "json"],
                                  key="explore_latent_upload")
        if loaded is not None:
            try:
                z = load_latent(loaded.getvalue(), generator.latent_dim)[0]
            except DcganError as exc:
                show_error(exc)
    with right:
        if use_live:  # the portrait and its sliders in the page; z follows their amounts
            description, weights = live
            amounts = _live_amounts(len(direction_names))
            result = live_portrait(description, weights, generator.value_range, z,
                                   directions, direction_names, amounts,
                                   st.session_state.get("explore_live_gen", 0),
                                   "explore_live_portrait")
            status = result.status or {}
            if status.get("mode") == "slow":
                st.session_state["explore_live_slow"][pca_key] = float(status["frame_ms"])
                _rerun_fragment()
            amounts = _live_amounts(len(direction_names), result.amounts)
            z = apply_directions(z, directions, amounts)
            path = LIVE_PATHS.get(status.get("mode"))
            st.caption(f"{caption} · drawn in your browser" + (f" ({path})" if path else ""))
        image = generator.images(z[None])[0]
        size = st.select_slider("Size", [64, 128, 256, 512], 512, key="explore_size")
        method = st.radio("Upscaling", ["lanczos", "nearest"], horizontal=True,
                          key="explore_method",
                          help="of the downloaded PNG" if use_live else None)
        big = upscale(image, size, method)
        if not use_live:
            st.image(png_bytes(big), caption=caption, width=512)
        d1, d2, d3 = st.columns(3)
        d1.download_button("Download PNG", png_bytes(big), f"portrait_{tag}_{size}.png",
                           "image/png", key="explore_dl_png")
        d2.download_button("Latent .npy", latent_npy(z), f"latent_{tag}.npy",
                           "application/octet-stream", key="explore_dl_npy")
        meta = {"seed": int(seed)} if base is None else {"photo": name}
        d3.download_button("Latent .json", latent_json(z, **meta, truncation=psi),
                           f"latent_{tag}.json", "application/json", key="explore_dl_json")
        with st.expander("Memorisation check: the nearest training images"):
            nearest_view(image)
    st.session_state["explore_z"] = z


def nearest_view(image: np.ndarray) -> None:
    """On demand: the prepared images closest to `image` in pixel space (RMS grey levels)."""
    prepared = [i.name for i in ws.list_datasets() if i.prepared_images]
    if not prepared:
        st.caption("No prepared dataset to compare with.")
        return
    trained_on = generator.config.data.dataset if generator.config else None
    default = trained_on if trained_on in prepared else \
        (BUILTIN_DATASET if BUILTIN_DATASET in prepared else prepared[0])
    name = st.selectbox("Compare with", prepared, index=prepared.index(default),
                        key="explore_nn_dataset",
                        help=f"the generator was trained on {trained_on}" if trained_on else None)
    digest = hashlib.sha256(image.tobytes() + name.encode()).hexdigest()
    cache = ws.prepared_cache(name)
    if st.button("Find the nearest images", key="explore_nn_go"):
        with st.spinner(f"Comparing with every image of {name}..."):
            st.session_state["explore_nn"] = (digest, nearest_images(image, cache, k=6))
    found = st.session_state.get("explore_nn")
    if not found or found[0] != digest:
        st.caption("Is this portrait new, or a copy of a training image? Compare it with "
                   "every image of the dataset (pixel space).")
        return
    rows = [row for row, _ in found[1]]
    pictures = CacheReader(cache).read(np.array(rows))
    columns = st.columns(len(rows))
    for column, picture, (row, distance) in zip(columns, pictures, found[1], strict=True):
        column.image(png_bytes(upscale(picture, 128, "nearest")),
                     caption=f"#{row} · RMS {distance:.1f}", width=128)
    st.caption(f"RMS distance in grey levels (0-255): 0 is an exact copy, a few levels a "
               f"near copy. Nearest here: {found[1][0][1]:.1f}.")


PHOTO_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
REFRESH_SECONDS = 0.5  # between looks at a running projection


@st.cache_data(max_entries=8, show_spinner="Finding the face...")
def _photo(data: bytes, data_crop: str) -> np.ndarray:
    """A photo cropped like the generator's training data (face detection runs once per
    photo, not on each look at a running search)."""
    return photo_pixels(data, data_crop=json.loads(data_crop))


def _photo_target() -> tuple[np.ndarray | None, str | None]:
    """The photo chosen on the tab as (64x64 uint8, its name), or (None, None)."""
    how = st.radio("Photo from", ["Upload", "A prepared dataset"], horizontal=True,
                   key="explore_ph_from")
    if how == "Upload":
        faces = (generator.data_crop or {}).get("crop") == "face"
        how_cropped = ("its largest face is found and aligned, as this generator's training "
                       "photos were" if faces else
                       "its centre square is resized to 64x64, as this generator's training "
                       "images were")
        upload = st.file_uploader(f"A photo (JPEG, PNG, WebP, BMP, GIF or TIFF); {how_cropped}",
                                  type=PHOTO_TYPES, key="explore_ph_upload")
        if upload is None:
            return None, None
        try:
            return _photo(upload.getvalue(), json.dumps(generator.data_crop)), upload.name
        except DcganError as exc:
            show_error(exc, "Choose another photo: a face seen from the front, large enough, "
                            "and the rules of a dataset import apply." if faces else
                            "Choose another photo: the rules of a dataset import apply.")
            return None, None
    prepared = {i.name: i.prepared_images for i in ws.list_datasets() if i.prepared_images}
    if not prepared:
        st.caption("No prepared dataset yet: prepare one on the Dataset page.")
        return None, None
    trained_on = generator.config.data.dataset if generator.config else None
    c1, c2 = st.columns(2)
    names = list(prepared)
    name = c1.selectbox("Dataset", names, names.index(trained_on) if trained_on in names else 0,
                        key="explore_ph_dataset")
    row = int(c2.number_input("Image number", 0, prepared[name] - 1, 0, key="explore_ph_row"))
    if name == trained_on and generator.config.train.eval_every:
        t = generator.config.train
        split = eval_split(prepared[name], t.eval_images, t.seed)
        if split.held_out:
            seen = "was held out of this run's training" if row in set(split.reference) \
                else "was trained on"
            st.caption(f"Image #{row} {seen}. Held out (never trained on): #"
                       + ", #".join(map(str, split.reference[:6])) + "...")
    return CacheReader(ws.prepared_cache(name)).read(np.array([row]))[0], f"{name} #{row}"


def _start_search(target: np.ndarray, name: str, steps: int, restarts: int) -> None:
    projector = _projector(pca_key, generator, str(run_dir) if run_dir else None, checkpoint)
    search = projector.search(target, Settings(steps=steps, restarts=restarts))
    search.start()
    st.session_state["explore_search"] = {"name": name, "search": search}


def _show_projection(result, total_steps: int | None = None) -> None:
    c1, c2 = st.columns(2)
    c1.image(png_bytes(upscale(result.target, 256)), width=256,
             caption="Your photo, as the generator sees it (64x64)")
    c2.image(png_bytes(upscale(result.image, 256)), width=256,
             caption=f"Reconstruction · RMS {result.rms:.1f} grey levels")
    if total_steps:
        st.progress(result.steps / total_steps, text=f"Step {result.steps} of {total_steps}")
    if result.losses:
        st.line_chart(np.asarray(result.losses), height=160, x_label="step", y_label="loss")


@st.fragment
def photo_view(shown: bool) -> None:
    st.write("Put a photo into the generator: a search finds the latent whose portrait looks "
             "most like it (by pixels and edges at four scales, and for a training run its "
             "own discriminator's features; no downloaded network). The result becomes the "
             "Portrait tab's starting point: every slider, truncation and download acts on it.")
    target, name = _photo_target()
    c1, c2 = st.columns(2)
    steps = c1.slider("Steps", 50, 1000, Settings.steps, 50, key="explore_ph_steps")
    restarts = c2.slider("Restarts", 1, 16, Settings.restarts, key="explore_ph_restarts",
                         help="starting points, the best of many random seeds, optimised "
                              "together; the best one wins")
    state = st.session_state.get("explore_search")
    running = state is not None and state["search"].running
    b1, b2 = st.columns(2)
    b1.button("Project", type="primary", disabled=target is None or running,
              on_click=_start_search, args=(target, name, steps, restarts), key="explore_ph_go",
              help="choose a photo first" if target is None else None)
    if running:  # the search runs in its own thread; this shows its progress
        b2.button("Stop", on_click=_stop_search, key="explore_ph_stop")
        search = state["search"]
        if shown:
            _show_projection(search.latest, search.settings.steps)
        time.sleep(REFRESH_SECONDS)
        _rerun_fragment()
    if state is not None:  # finished or stopped: the best so far becomes the current portrait
        search = st.session_state.pop("explore_search")["search"]
        if search.error is not None:
            show_error(search.error, "The projection failed; try again or another photo.")
            return
        result = search.result()
        photos.pop(state["name"], None)
        photos[state["name"]] = result
        while len(photos) > MAX_PHOTOS:
            photos.pop(next(iter(photos)))
        _use_photo(state["name"])
        st.session_state["explore_flash"] = (
            f"{'Stopped' if result.stopped else 'Projected'} **{state['name']}** after "
            f"{result.steps} steps (RMS {result.rms:.1f} grey levels, {result.seconds:.1f} s): "
            "it is now the portrait on the Portrait tab.")
        st.rerun()  # the whole page: the Portrait tab starts from it
    if photos:
        st.divider()
        names = list(photos)
        pick = st.selectbox("Projected photos", names, len(names) - 1, key="explore_ph_pick")
        if shown:
            _show_projection(photos[pick])
        # The Portrait tab is another fragment: the whole page runs again to show it there.
        if st.button("Make it the current portrait", key="explore_ph_use"):
            _use_photo(pick)
            st.rerun()


@st.fragment
def grid_view(shown: bool) -> None:
    psi = st.session_state.get("explore_psi", 1.0)
    c1, c2 = st.columns(2)
    first = c1.number_input("First seed", 0, 2**31 - 1000, 0, key="explore_grid_first")
    count = c2.select_slider("Portraits", [16, 32, 64], 16, key="explore_grid_count")
    seeds = list(range(int(first), int(first) + count))
    c1, c2, c3 = st.columns(3)
    pick = c1.selectbox("Make current", seeds, key="explore_grid_pick")
    if c1.button("Use this seed", key="explore_grid_use"):
        st.session_state["explore_pending_seed"] = int(pick)
        st.rerun()
    if not shown:
        return
    z_grid = truncate(z_from_seeds(seeds, generator.latent_dim), psi)
    images = generator.images(z_grid)
    st.image(grid_png(images, 8, 2), caption=f"seeds {seeds[0]}-{seeds[-1]}", width=640)
    c2.download_button("Download ZIP", portraits_zip(images, seeds, z_grid),
                       f"portraits_seeds{seeds[0]}-{seeds[-1]}.zip", "application/zip",
                       key="explore_dl_zip")
    c3.download_button("Download grid PNG", grid_png(images, 8, 4),
                       f"grid_seeds{seeds[0]}-{seeds[-1]}.png", "image/png",
                       key="explore_dl_grid")


def _end_label(choice: str) -> str:
    return "the seed above" if choice == "seed" else f"photo: {choice}"


@st.cache_data(max_entries=8, show_spinner=False)
def _animation(key: str, _generator, path: np.ndarray) -> tuple[np.ndarray, np.ndarray, bytes]:
    """(frames, a strip of 12, GIF) of the generator `key` names along `path`: shared by
    the sessions, so that a page load does not quantise the same GIF again (~0.4 s of
    server CPU, which the live portrait's first frame waits behind on a 2-core machine)."""
    frames = _generator.images(path)
    strip = frames[np.linspace(0, len(frames) - 1, min(12, len(frames))).astype(int)]
    return frames, image_grid(strip, columns=len(strip)), gif_bytes(frames, fps=12)


@st.fragment
def interpolation_view(shown: bool) -> None:
    psi = st.session_state.get("explore_psi", 1.0)
    c1, c2, c3 = st.columns(3)
    start = c1.number_input("Start seed", 0, 2**31 - 1, 0, key="explore_int_start")
    middle = c2.number_input("Middle seed (-1 = none)", -1, 2**31 - 1, -1,
                             key="explore_int_middle")
    end = c3.number_input("End seed", 0, 2**31 - 1, 1, key="explore_int_end")
    c1, c2 = st.columns(2)
    how = c1.radio("Path", ["slerp", "lerp"], horizontal=True, key="explore_int_method")
    steps = c2.slider("Steps", 4, 120, 24, key="explore_int_steps")
    ends = ["seed", *photos]
    c1, c2 = st.columns(2)
    start_from = c1.selectbox("Start at", ends, format_func=_end_label, key="explore_int_from")
    end_at = c2.selectbox("End at", ends, format_func=_end_label, key="explore_int_to")
    to_current = st.checkbox("End at the current portrait (its sliders or loaded latent)",
                             key="explore_int_current")
    keys = [int(start)] + ([int(middle)] if middle >= 0 else []) + [int(end)]
    keyframes = truncate(z_from_seeds(keys, generator.latent_dim), psi)
    for index, chosen in ((0, start_from), (-1, end_at)):  # projected photos at the ends
        if chosen in photos:
            keyframes[index], keys[index] = truncate(photos[chosen].z, psi), _slug(chosen)
    if to_current and "explore_z" in st.session_state:
        keyframes[-1] = st.session_state["explore_z"]
        keys[-1] = f"current{int(st.session_state.get('explore_seed', 0))}"
    if not shown:
        return
    frames, strip, gif = _animation(pca_key, generator, interpolate(keyframes, steps, how))
    st.image(strip, caption="Strip", width="stretch")
    st.image(gif, caption="Animated", width=256)
    name = f"interpolation_{how}_{'-'.join(map(str, keys))}_{steps}"
    c1, c2 = st.columns(2)
    c1.download_button("Download GIF", gif, f"{name}.gif", "image/gif", key="explore_dl_gif")
    if c2.button("Make MP4", key="explore_mp4"):
        st.session_state["explore_mp4_data"] = (name, mp4_bytes(frames))
    saved = st.session_state.get("explore_mp4_data")
    if saved and saved[0] == name:
        c2.download_button("Download MP4", saved[1], f"{name}.mp4", "video/mp4",
                           key="explore_dl_mp4")


@st.fragment
def label_view(shown: bool) -> None:
    st.write("Tick the portraits that show the attribute (e.g. smiling), name it, and Fit: "
             "the direction from the unticked to the ticked ones becomes a slider.")
    base = st.number_input("Samples from seed", 0, 2**31 - 100, 1000, key="explore_lab_base")
    label_seeds = list(range(int(base), int(base) + 16))
    label_images = generator.from_seeds(label_seeds) if shown else None
    ticks = []
    for row in range(4):
        columns = st.columns(4)
        for col in range(4):
            i = row * 4 + col
            if shown:
                columns[col].image(png_bytes(upscale(label_images[i], 128)), width=128)
            ticks.append(columns[col].checkbox(f"seed {label_seeds[i]}",
                                               key=f"explore_lab_{label_seeds[i]}"))
    name = st.text_input("Direction name", "smiling", key="explore_lab_name")
    if st.button("Fit direction", key="explore_lab_fit"):
        try:
            vector = labelled_direction(z_from_seeds(label_seeds, generator.latent_dim),
                                        np.array(ticks))
            if run_dir is None:
                st.warning("Directions are saved with training runs; this one is used now "
                           "only.")
            else:
                save_direction(run_dir, name, vector)
                st.session_state["explore_flash"] = (
                    f"Saved direction **{name}** with {run_dir.name}: it is the first slider "
                    "on the Portrait tab.")
                st.rerun()  # the whole page, so the new slider appears
        except (ValueError, DcganError) as exc:
            show_error(exc)


def compare_view(shown: bool) -> None:
    if run_dir is None or len(list_checkpoints(run_dir)) < 2:
        st.info("Compare needs a training run with two checkpoints or more.")
        return
    names = [p.name for p in list_checkpoints(run_dir)]
    c1, c2 = st.columns(2)
    a = c1.selectbox("Checkpoint A", names, 0, key="explore_cmp_a")
    b = c2.selectbox("Checkpoint B", names, len(names) - 1, key="explore_cmp_b")
    seeds = list(range(8))
    for column, ckpt in ((c1, a), (c2, b)) if shown else ():
        other = _run_generator(str(run_dir), ckpt)
        column.image(grid_png(other.from_seeds(seeds), 4, 2), caption=ckpt, width=300)


VIEWS = [lambda shown: portrait_view(), photo_view, grid_view, interpolation_view, label_view,
         compare_view]  # each but the portrait draws its pictures only while `shown` (open)
for name, tab, view in zip(TABS, tabs, VIEWS, strict=True):
    if name in opened:
        with tab:
            view(bool(tab.open))

if pca is None:  # after everything else is drawn: the first portrait does not wait for it
    with st.spinner("Finding the main directions (PCA of early activations)..."):
        _pca_compute(pca_key, generator, pca_file)
    st.rerun()
