"""Train page: a run's settings, Start / Stop / Resume, and a live dashboard of the run folder.

The page never trains: dcgan.runs.jobs starts a detached `python -m dcgan train` process, and the
dashboard fragments re-read the run folder every few seconds. A refresh, a second tab or a
restart of the web server re-attaches to the running job.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dcgan.config import (
    DEFAULT_PRESET,
    PRESET_HELP,
    PRESETS,
    TRANSFORMS,
    Config,
    ConfigError,
    preset,
)
from dcgan.data.prepare import cached_count
from dcgan.errors import DcganError
from dcgan.explore.export import progress_gif
from dcgan.quality.metrics import describe
from dcgan.runs import classroom
from dcgan.runs.folder import (
    ACTIVE,
    MetricsTail,
    disk_bytes,
    read_json,
    read_metrics,
    read_status,
)
from dcgan.runs.jobs import (
    JobRunning,
    active_run,
    job_state,
    refresh_seconds,
    resume_job,
    runs_with_state,
    start_job,
    stop_job,
)
from dcgan.system import SPEED_FILE, measure_speed
from dcgan.train.checkpoints import CKPT_RE, checkpoint_epoch, list_checkpoints
from dcgan.train.health import run_warnings
from pages.common import (
    current_serving,
    image_bytes,
    rerun_with,
    show_error,
    show_flash,
    state_label,
    workspace,
)

LOSSES = ("bce", "hinge", "wgan-gp")
MAX_POINTS = 600  # per curve on the dashboard; the smoothing still uses every logged step
D_NORMS = ("batch", "layer", "spectral", "none")
AUGMENTS = ("off", "fixed", "adaptive")

ws = workspace()
st.title("Train")

# --- the form -------------------------------------------------------------------------------
prepared = [i for i in ws.list_datasets() if i.prepared_images]
running = active_run(ws)
with st.expander("New run", expanded=running is None):
    if not prepared:
        st.info("No prepared dataset: create the synthetic portraits on the Dataset page.")
    names = [i.name for i in prepared]
    c1, c2 = st.columns(2)
    counts = {i.name: i.prepared_images for i in prepared}
    dataset = c1.selectbox("Dataset", names, key="train_dataset",
                           format_func=lambda n: f"{n} ({counts[n]:,} images)")
    preset_name = c2.selectbox("Preset", list(PRESETS),
                               index=list(PRESETS).index(DEFAULT_PRESET),
                               format_func=lambda p: f"{p} — {PRESET_HELP[p]}",
                               key="train_preset")
    base = preset(preset_name)
    key = f"train_{preset_name}_"  # per-preset keys: switching presets resets the defaults
    t, m = base.train, base.model
    c1, c2, c3, c4 = st.columns(4)
    values = {
        "epochs": c1.number_input("Epochs", 1, 100_000, t.epochs, key=key + "epochs"),
        "batch_size": c2.number_input("Batch size", 1, 4096, t.batch_size, key=key + "batch"),
        "steps_per_epoch": c3.number_input("Steps per epoch (0 = all data)", 0, 10_000_000,
                                           t.steps_per_epoch, key=key + "steps"),
        "checkpoint_every": c4.number_input("Checkpoint every (epochs)", 1, 100_000,
                                            t.checkpoint_every, key=key + "ckpt"),
    }
    with st.expander("Model and optimisation"):
        c1, c2, c3, c4 = st.columns(4)
        values.update({
            "latent_dim": c1.number_input("Latent size", 1, 4096, m.latent_dim,
                                          key=key + "latent"),
            "g_depth": c2.number_input("Generator stages", 2, 6, m.g_depth, key=key + "depth"),
            "g_filters": c3.number_input("G filters (last stage)", 1, 1024, m.g_filters,
                                         key=key + "gf"),
            "d_filters": c4.number_input("D filters (first stage)", 1, 1024, m.d_filters,
                                         key=key + "df"),
            "g_lr": c1.number_input("G learning rate", 0.0, 1.0, t.g_lr, format="%.6f",
                                    key=key + "glr"),
            "d_lr": c2.number_input("D learning rate", 0.0, 1.0, t.d_lr, format="%.6f",
                                    key=key + "dlr"),
            "g_beta1": c3.number_input("Adam beta1 (G and D)", 0.0, 0.9999, t.g_beta1,
                                       key=key + "b1"),
            "g_beta2": c4.number_input("Adam beta2 (G and D)", 0.0, 0.9999, t.g_beta2,
                                       format="%.4f", key=key + "b2"),
            "label_smoothing": c1.number_input("Label smoothing", 0.0, 0.5, t.label_smoothing,
                                               key=key + "ls"),
            "label_noise": c2.number_input("Label noise", 0.0, 0.5, t.label_noise,
                                           key=key + "ln"),
            "n_critic": c3.number_input("D steps per G step", 1, 10, t.n_critic,
                                        key=key + "ncritic"),
            "seed": c4.number_input("Seed", 0, 2**31 - 1, t.seed, key=key + "seed"),
            "flip": c1.checkbox("Flip augmentation", base.data.flip, key=key + "flip"),
            "rotation_deg": c2.number_input("Max rotation (degrees)", 0.0, 45.0,
                                            base.data.rotation_deg, key=key + "rot"),
            "eval_every": c3.number_input(
                "Quality check every (epochs, 0 = off)", 0, 100_000, t.eval_every,
                key=key + "evalevery",
                help="SWD and MS-SSIM against held-out real images; a few seconds each"),
            "eval_images": c4.number_input("Images per quality check", 2, 65_536,
                                           t.eval_images, key=key + "evalimages"),
        })
        values["d_beta1"], values["d_beta2"] = values["g_beta1"], values["g_beta2"]
    with st.expander("Recipe: loss, EMA generator, augmentation, regularisers"):
        d = base.data
        c1, c2, c3, c4 = st.columns(4)
        values.update({
            "loss": c1.selectbox("Loss", LOSSES, index=LOSSES.index(t.loss), key=key + "loss"),
            "d_norm": c2.selectbox("D normalisation", D_NORMS, index=D_NORMS.index(m.d_norm),
                                   key=key + "dnorm",
                                   help="spectral: Miyato et al. 2018 (no batch norm in D)"),
            "ema_half_life": c3.number_input(
                "EMA half-life (images, 0 = off)", 0, 100_000_000, t.ema_half_life,
                step=1000, key=key + "ema",
                help="grids, evaluation and the saved generator use the averaged copy"),
            "r1_gamma": c4.number_input("R1 gamma (0 = off)", 0.0, 1000.0, t.r1_gamma,
                                        format="%.4f", key=key + "r1",
                                        help=f"lazy: every {t.r1_every} D steps"),
            "augment": c1.selectbox(
                "D augmentation", AUGMENTS, index=AUGMENTS.index(d.augment), key=key + "aug",
                help="colour, translation and cutout of every image D sees, real and fake; "
                     "adaptive tunes p from D's outputs (ADA)"),
            "augment_p": c2.number_input("Augmentation p (fixed)", 0.0, 1.0, d.augment_p,
                                         key=key + "augp"),
            "ada_target": c3.number_input("ADA target r_t (adaptive)", 0.0, 1.0, d.ada_target,
                                          key=key + "adat"),
            "augment_policy": c4.text_input("Transforms", d.augment_policy, key=key + "augpol",
                                            help="comma-separated: " + ", ".join(TRANSFORMS)),
            "d_mbstd": c1.number_input(
                "Minibatch stddev group (0 = off)", 0, 64, m.d_mbstd, key=key + "mbstd",
                help="D sees how much groups of this many images differ: against look-alikes"),
        })
    run_name = st.text_input("Run name (optional)", key="train_run_name",
                             placeholder="letters, digits, - and _")

    def _config() -> Config | None:
        try:
            config = base.with_overrides(dataset=dataset, **values)
            config.validate(dataset_size=cached_count(ws, dataset))
            return config
        except (ConfigError, DcganError) as exc:
            show_error(exc, "Fix the setting above and start again.")
            return None

    @st.cache_data(show_spinner="Timing a few steps on this machine...", ttl=3600)
    def _estimate(config_json: str) -> dict:
        config = Config.from_json(config_json)
        flags = []
        for name in ("batch_size", "latent_dim", "g_depth", "g_filters", "d_filters",
                     "n_critic", "loss", "d_norm", "augment", "augment_policy",
                     "ema_half_life", "r1_gamma", "d_mbstd"):
            flags += ["--" + name.replace("_", "-"), str(config.get(name))]
        return measure_speed(config.preset, flags, timeout=600)

    c1, c2, c3 = st.columns([1, 1, 2])
    if c2.button("Estimate speed", key="train_estimate", disabled=not dataset):
        config = _config()
        if config:
            try:
                estimate = _estimate(config.to_json())
                steps = config.train.steps_per_epoch or \
                    counts[dataset] // config.train.batch_size
                st.session_state["train_estimate_text"] = (
                    f"{estimate['device']}: {estimate['images_per_s']:.0f} images/s, about "
                    f"{steps * estimate['seconds_per_step'] / 60:.1f} min per epoch")
            except (DcganError, subprocess.TimeoutExpired) as exc:
                show_error(exc)
    if "train_estimate_text" in st.session_state:
        c3.caption(st.session_state["train_estimate_text"])
    else:
        measured = read_json(ws.root / SPEED_FILE)
        if measured and dataset:
            default = preset(DEFAULT_PRESET)
            steps = counts[dataset] // default.train.batch_size
            c3.caption(f"{measured['device'].split(';')[0]}: with the {DEFAULT_PRESET} "
                       f"preset's defaults an epoch of {dataset} takes about "
                       f"{steps * measured['seconds_per_step'] / 60:.1f} min (measured at start)."
                       " Estimate speed times your settings.")
    served = current_serving()
    in_class = served.mode == "class"  # runs wait their turn in the class's device queue
    if c1.button("Start", type="primary", key="train_start",
                 disabled=(running is not None and not in_class) or not dataset,
                 help="one job at a time: stop the running job first"
                 if running and not in_class else None):
        config = _config()
        if config:
            try:
                with st.spinner("Starting the training job..."):
                    if in_class:
                        run_dir = classroom.submit_job(served.shared, ws, served.person.id,
                                                       config, served.settings,
                                                       run_name or None)
                    else:
                        run_dir = start_job(ws, config, run_name or None)
                st.session_state["train_run"] = run_dir.name
                st.rerun()
            except JobRunning as exc:  # e.g. a double click: the first click's job runs
                rerun_with(f"{exc}. Showing it below.", "start", "warning")
            except DcganError as exc:
                show_error(exc)
    if in_class:
        st.caption(f"This app serves a class: runs take turns on the device "
                   f"({served.settings.device_slots()} at a time, round robin between "
                   f"people); limits per person: {served.settings.max_queued} waiting runs, "
                   f"{served.settings.max_disk_mb:,} MB, {served.settings.max_epochs} epochs "
                   f"and {served.settings.max_minutes} minutes per run.")
    show_flash("start")

# --- runs -----------------------------------------------------------------------------------
runs = runs_with_state(ws)
if not runs:
    st.info("No run yet: choose a dataset and a preset above and press Start.")
    st.stop()
ids = [r.run_id for r in runs]
wanted = running.name if running is not None else st.session_state.get("train_run")
selected = st.selectbox("Run", ids, index=ids.index(wanted) if wanted in ids else 0,
                        format_func=lambda i: next(
                            f"{r.run_id} ({r.preset} on {r.dataset})"
                            for r in runs if r.run_id == i),
                        key="train_selected")
run_dir = ws.runs_dir / selected


def device_line(status: dict) -> str:
    """Where and how the job computes: device, precision, XLA, images, steps per call."""
    parts = [f"Device: {status['device']}"]
    if status.get("input"):
        parts.append(f"images {status['input']}")
    if status.get("steps_per_call"):
        k = int(status["steps_per_call"])
        auto = " (chosen from the step time)" if status.get("steps_per_call_auto") else ""
        parts.append(f"{k} step{'s' if k != 1 else ''} per compiled call{auto}")
    return " · ".join(parts)


def _smooth(values: np.ndarray, weight: float = 0.9) -> np.ndarray:
    out, last = np.empty(len(values)), None
    for i, v in enumerate(values.tolist()):
        last = v if last is None else weight * last + (1 - weight) * v
        out[i] = last
    return out


def _curves(records: list[dict], keys: tuple[str, ...], title: str, x: str = "step",
            prefix: str = "") -> go.Figure:
    """Raw (faint) and smoothed curves of `keys`; smoothed over every point, drawn from at
    most MAX_POINTS of them (numpy arrays: Plotly validates and sends them in bulk)."""
    fig = go.Figure()
    for k in keys:
        points = np.array([(r[x], r[k]) for r in records if k in r], dtype=np.float64)
        if not len(points):
            continue
        xs, ys = points[:, 0], points[:, 1]
        smooth = _smooth(ys)
        shown = np.unique(np.linspace(0, len(xs) - 1, min(len(xs), MAX_POINTS)).astype(int))
        fig.add_scatter(x=xs[shown], y=ys[shown], name=f"{prefix}{k} (raw)", opacity=0.25,
                        line={"width": 1}, showlegend=False)
        fig.add_scatter(x=xs[shown], y=smooth[shown], name=f"{prefix}{k}")
    fig.update_layout(title=title, height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis_title=x)
    return fig


def _quality_charts(evals: list[dict]) -> tuple[go.Figure, go.Figure]:
    """SWD and the colour distance with their real-vs-real floors, and MS-SSIM of generated
    vs real pairs, per epoch."""
    epochs = [r["epoch"] for r in evals]
    swd = go.Figure()
    swd.add_scatter(x=epochs, y=[r["swd"] for r in evals], name="SWD", mode="lines+markers")
    swd.add_scatter(x=epochs, y=[r.get("swd_floor") for r in evals], name="real vs real floor",
                    mode="lines", line={"dash": "dash", "color": "grey"})
    if any("color_dist" in r for r in evals):  # runs evaluated before the colour term lack it
        swd.add_scatter(x=epochs, y=[r.get("color_dist") for r in evals],
                        name="colour distance (grey levels)", mode="lines+markers")
        swd.add_scatter(x=epochs, y=[r.get("color_dist_floor") for r in evals],
                        name="colour floor", mode="lines",
                        line={"dash": "dot", "color": "grey"})
    swd.update_layout(title="Quality: SWD x1e3 and colour distance (lower is better)",
                      height=300,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis_title="epoch")
    ssim = go.Figure()
    ssim.add_scatter(x=epochs, y=[r["ms_ssim"] for r in evals], name="generated pairs",
                     mode="lines+markers")
    ssim.add_scatter(x=epochs, y=[r.get("ms_ssim_real") for r in evals], name="real pairs",
                     mode="lines", line={"dash": "dash", "color": "grey"})
    ssim.update_layout(title="Diversity: MS-SSIM (higher = more alike)", height=300,
                       margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis_title="epoch",
                       yaxis_range=[0, 1])
    return swd, ssim


# --- what the dashboard reads: incrementally, and shared by every tab of this server --------
@st.cache_resource(show_spinner=False, max_entries=64)
def _metrics_tail(run: str) -> MetricsTail:
    return MetricsTail(Path(run))


@st.cache_resource(show_spinner=False, max_entries=16)
def _charts(run: str, count: int, _records: list[dict]) -> dict[str, go.Figure]:
    """The dashboard's figures from the run's first `count` records, built once per new
    record count (the figures are only read afterwards)."""
    steps = [r for r in _records if r.get("kind") == "step"]
    epochs = [r for r in _records if r.get("kind") == "epoch"]
    evals = [r for r in _records if r.get("kind") == "eval"]
    charts = {}
    if steps:
        charts["loss"] = _curves(steps, ("d_loss", "g_loss"), "Losses per step")
        charts["d"] = _curves(steps, ("d_real", "d_fake"), "D(x) and D(G(z)) per step")
        if any("augment_p" in r for r in steps):
            charts["aug"] = _curves(steps, ("augment_p", "d_real_sign"),
                                    "Augmentation p and r_t = E[sign D(x)]")
    if epochs:
        charts["epoch"] = _curves(epochs, ("d_loss", "g_loss", "d_real", "d_fake"),
                                  "Epoch means", x="epoch")
    if evals:
        charts["swd"], charts["ssim"] = _quality_charts(evals)
    return charts


@st.cache_data(show_spinner=False, max_entries=64)
def _disk_total(run: str, checkpoints: tuple[str, ...], newest_grid: str | None) -> int:
    """The run folder's bytes, walked again only when a checkpoint or a grid came or went."""
    return disk_bytes(Path(run))


def checkpoints_view(evals: list[dict], newest_grid: str | None) -> None:
    """The run's checkpoints as a table (epoch, step, size, SWD), its disk total, and the
    generator of a chosen checkpoint to download (.keras, the EMA copy when there is one)."""
    checkpoints = list_checkpoints(run_dir)
    total = _disk_total(str(run_dir), tuple(p.name for p in checkpoints), newest_grid)
    st.caption(f"This run uses {total / 1e6:,.1f} MB on disk"
               + (f"; {len(checkpoints)} checkpoints kept (the newest, the best by SWD, and "
                  "every k-th epoch when set)" if checkpoints else "; no checkpoint yet"))
    if not checkpoints:
        return
    swd = {r["epoch"]: r["swd"] for r in evals}
    rows = []
    for path in reversed(checkpoints):
        epoch = checkpoint_epoch(path)
        with contextlib.suppress(OSError):  # pruned while we read
            rows.append({"checkpoint": path.name, "epoch": epoch,
                         "step": int(CKPT_RE.match(path.name).group(2)),
                         "MB": f"{path.stat().st_size / 1e6:.1f}",
                         "SWD": f"{swd[epoch]:.1f}" if epoch in swd else "—"})
    st.table(pd.DataFrame(rows).set_index("checkpoint"))
    c1, c2 = st.columns([2, 1])
    chosen = c1.selectbox("Generator of checkpoint", [r["checkpoint"] for r in rows],
                          key="train_ckpt_choice")
    if c2.button("Prepare its generator (.keras)", key="train_ckpt_prepare"):
        from dcgan.explore.export import generator_keras_bytes  # TensorFlow: only on demand

        try:
            st.session_state["train_ckpt_file"] = (
                str(run_dir), chosen, generator_keras_bytes(run_dir, run_dir / "checkpoints"
                                                            / chosen))
        except DcganError as exc:
            show_error(exc)
    ready = st.session_state.get("train_ckpt_file")
    if ready and ready[:2] == (str(run_dir), chosen):
        c2.download_button("Download generator", ready[2],
                           f"{run_dir.name}-{chosen.removesuffix('.npz')}-generator.keras",
                           "application/octet-stream", key="train_ckpt_download")


# Two fragments, refreshed as often as the run's state asks (refresh_seconds): the status
# (progress, buttons, warnings) every 2 s while the run's job is alive, every 5 s while it
# waits in a class's queue, every 10 s otherwise (then only another job starting can change
# it: the page reruns); the charts, grid and checkpoints every 10 s while the job is alive,
# and never otherwise. A browser redraws Plotly charts on every refresh, which is most of
# what an open tab costs the job (BENCHMARKS.md "Dashboard"); the server reads only what is new.
STATUS_EVERY_S, CHARTS_EVERY_S = refresh_seconds(run_dir)
waiting_now = bool(read_status(run_dir).get("waiting"))  # in a class's device queue


@st.fragment(run_every=STATUS_EVERY_S)
def status_view() -> None:
    if (active_run(ws) is not None) != (running is not None):
        st.rerun(scope="app")  # a job started or ended: the form's Start must follow
    status = read_status(run_dir)
    if waiting_now and not status.get("waiting"):
        st.rerun(scope="app")  # its turn came: refresh as a training run's page does
    state = job_state(run_dir)
    run_config = Config.from_json((run_dir / "config.json").read_text())
    epochs = int(status.get("epochs") or run_config.train.epochs)
    per_epoch = int(status.get("steps_per_epoch") or 1)
    epoch, step = int(status.get("epoch", 0)), int(status.get("step", 0))
    done_steps = step if status.get("steps_per_epoch") else 0
    st.progress(min(done_steps / max(epochs * per_epoch, 1), 1.0),
                text=f"{state_label(state)} · epoch {epoch}/{epochs} · step {step:,}")
    c1, c2, c3, c4 = st.columns(4)
    rate, eta = status.get("images_per_s"), status.get("eta_s")
    c1.metric("Images/s", f"{rate:.1f}" if rate else "—")
    c2.metric("ETA", time.strftime("%H:%M:%S", time.gmtime(eta)) if eta else "—")
    c3.metric("Epoch", f"{epoch}/{epochs}")
    if status.get("device"):
        st.caption(device_line(status))
    alive = state in ACTIVE
    served = current_serving()
    if c4.button("Stop", key="train_stop", disabled=not alive or state == "stopping"):
        if served.mode == "class":
            classroom.stop_run(served.shared, served.settings, run_dir)
        else:
            stop_job(run_dir)
        st.rerun(scope="fragment")  # shows "stopping" at once
    if c4.button("Resume", key="train_resume",
                 disabled=alive or state not in ("stopped", "crashed", "failed")):
        try:
            if served.mode == "class":
                classroom.resubmit_job(served.shared, ws, served.person.id, run_dir,
                                       served.settings)
            else:
                resume_job(ws, run_dir)
            st.rerun(scope="app")
        except DcganError as exc:  # e.g. another job started: why
            st.session_state["train_notice"] = (str(exc), time.time() + 15)
    notice = st.session_state.get("train_notice")
    if notice and time.time() < notice[1]:  # kept across the fragment's refreshes
        st.warning(notice[0])
    if state == "stopping":
        st.info("Stopping: the job saves a checkpoint and exits; Resume is enabled once it "
                "has (a few seconds).")
    if served.mode == "class" and status.get("waiting"):
        st.info(classroom.waiting_text(served.shared, served.settings, run_dir))
    if status.get("note"):
        st.caption(status["note"])
    if state == "crashed":
        st.warning("The job is gone (killed or crashed) before finishing: Resume continues "
                   "from its last checkpoint.")
    if status.get("error") and state in ("failed", "diverged"):
        st.error(status["error"])

    records = _metrics_tail(str(run_dir)).read()
    evals = [r for r in records if r.get("kind") == "eval"]
    for warning in run_warnings(records, run_config.train.loss, run_config.data.augment,
                                status.get("train_images")):
        st.warning(f"{warning['message']}. Advice: {warning['advice']}.")
    if evals:
        st.caption(f"Quality at epoch {evals[-1]['epoch']}: {describe(evals[-1])}"
                   + (" · checking quality now..." if status.get("evaluating") else ""))
    elif status.get("evaluating"):
        st.caption("Checking quality (SWD, MS-SSIM) now...")


@st.fragment(run_every=CHARTS_EVERY_S)
def charts_view() -> None:
    records = _metrics_tail(str(run_dir)).read()
    charts = _charts(str(run_dir), len(records), records)
    evals = [r for r in records if r.get("kind") == "eval"]
    samples = sorted((run_dir / "samples").glob("epoch_*.png"))
    left, right = st.columns(2)
    if "loss" in charts:
        left.plotly_chart(charts["loss"], width="stretch", key="train_chart_loss")
    with right:
        if samples:
            shown = samples[-1]
            if len(samples) > 1:
                index = st.slider("Epoch", 1, len(samples), len(samples),
                                  key="train_epoch_slider",
                                  help="the grids kept: every epoch's for the first 100, "
                                       "then every k-th (at most 200)")
                shown = samples[index - 1]
            st.image(image_bytes(shown), output_format="PNG",  # as stored: no re-encoding
                     caption=f"Fixed noise, {shown.stem.replace('_', ' ')}", width="stretch")
        else:
            st.caption("The first sample grid appears at the end of epoch 1.")
    for a, b in (("d", "epoch"), ("aug", None), ("swd", "ssim")):
        if a in charts or b in charts:
            left, right = st.columns(2)
            for column, name in ((left, a), (right, b)):
                if name in charts:
                    column.plotly_chart(charts[name], width="stretch",
                                        key=f"train_chart_{name}")
    checkpoints_view(evals, samples[-1].name if samples else None)
    with st.expander("train.log"):
        try:
            st.code("\n".join((run_dir / "train.log").read_text(errors="replace")
                              .splitlines()[-40:]) or "(empty)")
        except OSError:
            st.caption("No log: this run was trained from the command line.")


status_view()
charts_view()

if (run_dir / "samples").is_dir() and any((run_dir / "samples").glob("epoch_*.png")):
    if st.button("Make the progress GIF", key="train_gif"):
        st.session_state["train_gif_data"] = (selected, progress_gif(run_dir))
    gif = st.session_state.get("train_gif_data")
    if gif and gif[0] == selected and gif[1]:
        st.image(gif[1], caption="Every epoch's samples", width=520)
        st.download_button("Download progress GIF", gif[1], f"{selected}-progress.gif",
                           "image/gif", key="train_gif_download")

# --- all runs and comparison ------------------------------------------------------------------
st.subheader("All runs")


@st.fragment(run_every=5 if running is not None else None)  # a job starting reruns the page
def all_runs() -> None:
    """Read at every refresh: the states and epochs of every run, as the dashboard's."""
    rows = [{"run": r.run_id, "state": r.state, "dataset": r.dataset, "preset": r.preset,
             "epoch": f"{r.epoch}/{r.epochs}", **{k: round(v, 4) for k, v in r.last.items()}}
            for r in runs_with_state(ws)]
    st.table(pd.DataFrame(rows).set_index("run"))


all_runs()
if len(runs) > 1:
    pair = st.multiselect("Compare the loss curves of two runs", ids, max_selections=2,
                          key="train_compare")
    if len(pair) == 2:
        fig = go.Figure()
        for rid in pair:
            for trace in _curves([r for r in read_metrics(ws.runs_dir / rid)
                                  if r.get("kind") == "step"], ("d_loss", "g_loss"), "",
                                 prefix=f"{rid}: ").data:
                fig.add_trace(trace)
        fig.update_layout(title="Losses", height=320)
        st.plotly_chart(fig, width="stretch", key="train_compare_chart")
