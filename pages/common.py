"""Helpers shared by the pages: workspace, errors shown to people, small renderers.

Only modules that do not import TensorFlow are imported here (the pages load in ~2 s).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dcgan.errors import DcganError
from dcgan.workspace import Workspace

STATE_ICONS = {"running": "🟢", "queued": "🟡", "stopping": "🟡", "stopped": "⏸️",
               "done": "✅", "failed": "❌", "diverged": "⚠️", "crashed": "💥"}


def workspace() -> Workspace:
    return Workspace.from_env().ensure()


def show_error(exc: Exception, what_next: str = "") -> None:
    """An error for people: the message, what to do next, never a traceback."""
    message = str(exc) if isinstance(exc, DcganError) else f"{type(exc).__name__}: {exc}"
    st.error(message + (f"\n\n{what_next}" if what_next else ""))


def state_label(state: str) -> str:
    return f"{STATE_ICONS.get(state, '•')} {state}"


def image_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
