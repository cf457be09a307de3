"""Process pools that are safe to start from the CLI, the app, tests and user scripts."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context


def start_method() -> str:
    """'fork' (fast, no re-import of __main__) unless TensorFlow's threads may be running.

    Forking a process that has started TensorFlow's thread pools can deadlock the child, so
    once TensorFlow is imported the pool spawns fresh interpreters instead.
    """
    return "spawn" if "tensorflow" in sys.modules else "fork"


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """Spawned children re-run the parent's __main__ script unless it is hidden.

    The work functions live in dcgan modules, so the children never need __main__; and the
    parent's main may be a script without a `__name__` guard (a Streamlit page, a notebook,
    a user's script), which must not run again in every worker.
    """
    real = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if real is not None:
            sys.modules["__main__"] = real


def one_blas_thread():
    """Context: numpy's BLAS runs single-threaded inside (small matrices, one core each).

    The pools parallelise over files; BLAS threads on top oversubscribe the cores and
    made the Lanczos resampling ~1.5x slower here.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def map_in_processes(fn: Callable, jobs: Iterable, workers: int) -> Iterator:
    """pool.map(fn, jobs) over `workers` processes, results in order, pool closed after."""
    method = start_method()
    with ProcessPoolExecutor(workers, mp_context=get_context(method)) as pool:
        hide = _main_not_rerun() if method == "spawn" else contextlib.nullcontext()
        with hide:  # every worker starts while the jobs are submitted, inside map()
            results = pool.map(fn, jobs)
        yield from results
