"""Helpers shared by the pages: workspace, errors shown to people, small renderers.

Only modules that do not import TensorFlow are imported here (the pages load in ~2 s).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from dcgan.errors import DcganError
from dcgan.runs import classroom
from dcgan.runs.classroom import ClassSettings, Person
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


CLASS_LINK = ("pages/classroom.py", "Class", ":material/school:")
DISPATCH_EVERY_S = 2.0


@dataclass(frozen=True)
class Serving:
    """How this session is served (dcgan.runs.classroom): "local", "trusted" or "class";
    in a class, who is signed in, their own workspace and the class's settings."""

    mode: str
    shared: Workspace  # $DCGAN_HOME
    ws: Workspace  # this session's workspace: the person's own in a class
    person: Person | None = None
    settings: ClassSettings | None = None
    teacher: bool = False


def _auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, OSError, ValueError):  # no or unreadable secrets.toml
        return False
    except Exception as exc:  # StreamlitSecretNotFoundError and kin
        if "secret" in type(exc).__name__.lower():
            return False
        raise


def class_settings(shared: Workspace) -> ClassSettings:
    """The `[class]` table of secrets.toml with the limits a teacher set on the Class page
    (class/limits.json) over it."""
    from dcgan.runs.folder import read_json

    try:
        raw = dict(st.secrets.get("class", {}))
    except Exception:  # no secrets file: defaults
        raw = {}
    raw.update(read_json(shared.root / classroom.CLASS_DIR / "limits.json", {}) or {})
    raw["teachers"] = list(raw.get("teachers", []))
    return ClassSettings.from_dict(raw)


@st.cache_resource(show_spinner=False)
def _dispatcher(shared_root: str) -> threading.Thread:
    """One thread per server process that moves the device queue every few seconds (jobs
    also start the next one as they exit; this covers crashes and a restarted server)."""
    shared = Workspace(Path(shared_root))

    def loop() -> None:
        while True:
            try:
                classroom.dispatch(shared, class_settings(shared))
            except Exception as exc:  # keep the queue moving; say why in the server's log
                print(f"device queue: {type(exc).__name__}: {exc}", flush=True)
            time.sleep(DISPATCH_EVERY_S)

    thread = threading.Thread(target=loop, name="device-queue", daemon=True)
    thread.start()
    return thread


def serving() -> Serving:
    """This session's Serving, deciding the mode (refusing to serve beyond localhost without
    sign-in) and signing the person in when the app serves a class; stops the page until
    they have."""
    shared = Workspace.from_env().ensure()
    try:
        mode = classroom.serve_mode(st.get_option("server.address"), _auth_configured())
    except DcganError as exc:
        st.error(str(exc))
        st.stop()
    if mode != "class":
        return Serving(mode, shared, shared)
    if not st.user.is_logged_in:
        st.title("DCGAN Portrait Studio")
        st.markdown("This app is served to a class: sign in to get your own datasets, "
                    "runs and generators.")
        if st.button("Sign in", type="primary", key="sign_in"):
            st.login()
        st.stop()
    person = Person(str(st.user.get("iss") or ""), str(st.user.get("sub") or ""),
                    st.user.get("email"), st.user.get("name"))
    if not person.issuer or not person.subject:
        st.error("The identity provider's answer has no issuer or subject: ask your "
                 "teacher to check the sign-in configuration.")
        st.stop()
    settings = class_settings(shared)
    _dispatcher(str(shared.root))
    return Serving(mode, shared, classroom.person_workspace(shared, person), person,
                   settings, settings.is_teacher(person))


def workspace() -> Workspace:
    """This session's workspace (created if missing; a signed-in person's own when the app
    serves a class); also draws the sidebar: page links, who is signed in."""
    served = serving()
    st.session_state["_serving"] = served
    with st.sidebar:
        st.markdown("### DCGAN Portrait Studio")
        links = [*LINKS, CLASS_LINK] if served.teacher else LINKS
        for path, label, icon in links:
            try:
                st.page_link(path, label=label, icon=icon)
            except StreamlitPageNotFoundError:
                break  # a page run on its own (AppTest): no navigation to link to
        if served.person is not None:
            st.caption(f"Signed in as **{served.person.label}**"
                       + (" (teacher)" if served.teacher else ""))
            if st.button("Sign out", key="sign_out"):
                st.logout()
    return served.ws


def current_serving() -> Serving:
    """The Serving that workspace() decided for this run of the page."""
    served = st.session_state.get("_serving")
    if served is None:
        workspace()
        served = st.session_state["_serving"]
    return served


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
