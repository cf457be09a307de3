"""dcgan.parallel: the start method follows whether TensorFlow is loaded."""

from __future__ import annotations

import os
import subprocess
import sys

from dcgan.parallel import process_pool, start_method


def test_pool_runs_work():
    with process_pool(2) as pool:
        assert list(pool.map(abs, [-1, -2, 3])) == [1, 2, 3]


def _method_in_fresh_python(preimport: str) -> str:
    code = f"{preimport}\nfrom dcgan.parallel import start_method\nprint(start_method())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(__file__)), timeout=120)
    return out.stdout.strip()


def test_fork_without_tensorflow_spawn_with_it():
    assert _method_in_fresh_python("") == "fork"
    assert _method_in_fresh_python("import tensorflow") == "spawn"
    assert start_method() in ("fork", "spawn")


def test_one_blas_thread_limits_and_restores():
    from threadpoolctl import threadpool_info

    from dcgan.parallel import one_blas_thread

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    with one_blas_thread():
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == before
