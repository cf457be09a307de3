"""Process pools that are safe to start from the CLI, the app, tests and user scripts."""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context


def start_method() -> str:
    """'fork' (fast, no re-import of __main__) unless TensorFlow's threads may be running.

    Forking a process that has started TensorFlow's thread pools can deadlock the child, so
    once TensorFlow is imported the pool spawns fresh interpreters instead.
    """
    return "spawn" if "tensorflow" in sys.modules else "fork"


def one_blas_thread():
    """Context: numpy's BLAS runs single-threaded inside (small matrices, one core each).

    The pools parallelise over files; BLAS threads on top oversubscribe the cores and
    made the Lanczos resampling ~1.5x slower here.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def process_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=get_context(start_method()))
