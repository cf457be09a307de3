"""Helpers shared by the pages: workspace, errors shown to people, small renderers.

Only modules that do not import TensorFlow are imported here (the pages load in ~2 s).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from dcgan.errors import DcganError
from dcgan.workspace import Workspace


def _keep_keras_state() -> None:
    """Stop Streamlit from clearing Keras' session after every script run.

    Streamlit calls `keras.backend.clear_session()` at the end of each run (fragments too),
    which empties TensorFlow's kernel cache and runs a full garbage collection: the next
    generator call then costs ~40 ms instead of ~4, a projection step ~300 ms more, and the
    collection holds the GIL while a projection thread works. The pages build no Keras model
    per run (models live in st.cache_resource), so there is nothing for it to clear.
    `_clean_problem_modules` is private to Streamlit: if it moves, this does nothing.
    """
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:
        return
    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = lambda: None


_keep_keras_state()

STATE_ICONS = {"running": ":material/play_circle:", "queued": ":material/schedule:",
               "stopping": ":material/pending:", "stopped": ":material/pause_circle:",
               "done": ":material/check_circle:", "failed": ":material/error:",
               "diverged": ":material/warning:", "crashed": ":material/report:"}


LINKS = (("pages/home.py", "Home", ":material/home:"),
         ("pages/dataset.py", "Dataset", ":material/photo_library:"),
         ("pages/train.py", "Train", ":material/model_training:"),
         ("pages/explore.py", "Explore", ":material/face:"))


def workspace() -> Workspace:
    """The workspace, created if missing; also draws the sidebar's page links."""
    with st.sidebar:
        st.markdown("### DCGAN Portrait Studio")
        for path, label, icon in LINKS:
            try:
                st.page_link(path, label=label, icon=icon)
            except StreamlitPageNotFoundError:
                break  # a page run on its own (AppTest): no navigation to link to
    return Workspace.from_env().ensure()


def show_error(exc: Exception, what_next: str = "") -> None:
    """An error for people: the message, what to do next, never a traceback."""
    message = str(exc) if isinstance(exc, DcganError) else f"{type(exc).__name__}: {exc}"
    st.error(message + (f"\n\n{what_next}" if what_next else ""))


# --- the rule of every page: what it shows is read after the action that changed it ---------
# An action (a button's code) that changes what the page shows above or beside it ends with
# `rerun_with(message)`: the whole page runs again and reads the new state, and the message
# is shown where the action's button is (`show_flash(slot)`), once.
def rerun_with(message: str, slot: str, kind: str = "success") -> None:
    st.session_state[f"flash_{slot}"] = (kind, message)
    st.rerun()


def show_flash(slot: str) -> None:
    kind, message = st.session_state.pop(f"flash_{slot}", (None, None))
    if message:
        getattr(st, kind)(message)


def state_label(state: str, icon: bool = True) -> str:
    """'running' with its Material icon (markdown contexts) or plain (tables, selectboxes)."""
    return f"{STATE_ICONS[state]} {state}" if icon and state in STATE_ICONS else state


def image_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
