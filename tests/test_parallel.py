"""dcgan.parallel: the start method follows whether TensorFlow is loaded."""

from __future__ import annotations

import os
import subprocess
import sys

from dcgan.parallel import map_in_processes, start_method


def test_pool_runs_work_in_order():
    assert list(map_in_processes(abs, [-1, -2, 3, -4], 2)) == [1, 2, 3, 4]


def test_spawned_workers_do_not_rerun_an_unguarded_main(tmp_path):
    """A script without a __name__ guard (like a Streamlit page) runs once, not per worker."""
    script = tmp_path / "unguarded.py"
    marker = tmp_path / "runs.txt"
    script.write_text(
        "import sys, tensorflow\n"  # TensorFlow loaded: the pool spawns
        f"sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r})\n"
        f"open({str(marker)!r}, 'a').write('x')\n"
        "from dcgan.parallel import map_in_processes, start_method\n"
        "assert start_method() == 'spawn'\n"
        "print(list(map_in_processes(abs, [-5, 6, -7], 2)))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("[5, 6, 7]")
    assert marker.read_text() == "x"


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
