"""The live portrait: Explore's portrait and its direction sliders, run in the browser.

A Streamlit component (v2, inline, no iframe) built from assets/live (HTML, CSS and the
forward passes: kernel.js, WebAssembly SIMD assembled in the page, and live.js; nothing is
fetched at run time). Python stays the source of truth: the component reports its slider
amounts as state (on release, and when a slider has rested 400 ms), and the page computes
the same latent from them for downloads, the memorisation check, interpolation and the
grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import streamlit as st

from dcgan.explore.live import MAX_FRAME_MS

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "live"

_component = st.components.v2.component(
    "dcgan_live_portrait",
    html=(ASSETS / "live.html").read_text(encoding="utf-8"),
    css=(ASSETS / "live.css").read_text(encoding="utf-8"),
    js="\n".join((ASSETS / name).read_text(encoding="utf-8") for name in ("kernel.js", "live.js")),
)


def _ignore() -> None:
    """State changes rerun the fragment; the values are read from the result."""


def live_portrait(description, weights: pa.Table, value_range, base: np.ndarray,
                  directions: np.ndarray, names: list[str], amounts: np.ndarray,
                  generation: int, key: str):
    """Mount the component; returns its result (`.amounts`, `.status`).

    The weights (~4 MB for the demo) go with the data only until the page says it has them
    (its `have` state): Streamlit sends a component's whole data on every run, and every
    slider report is a run.
    """
    have = (st.session_state.get(key) or {}).get("have") or []
    sent = None if description.digest in have else weights
    data = {
        "model": {"digest": description.digest, "latent": description.latent_dim,
                  "range": list(value_range), "ops": description.ops},
        "weights": sent,
        "have": list(have),
        "base": np.asarray(base, float).tolist(),
        "directions": np.asarray(directions, float).tolist(),
        "names": list(names),
        "amounts": np.asarray(amounts, float).tolist(),
        "generation": int(generation),
        "max_frame_ms": MAX_FRAME_MS,
    }
    return _component(key=key, data=data, default={"amounts": None, "status": None,
                                                   "have": None},
                      on_amounts_change=_ignore, on_status_change=_ignore,
                      on_have_change=_ignore)
