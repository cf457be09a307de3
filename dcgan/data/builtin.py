"""The built-in dataset: synthetic portraits drawn and prepared on first use.

`make run` (through `python -m dcgan bootstrap`) and the app's home page both make sure it
exists, so a newcomer has something to train on at once.
"""

from __future__ import annotations

from collections.abc import Callable

from dcgan.workspace import Workspace

BUILTIN_DATASET = "synthetic-portraits"
BUILTIN_COUNT = 4000


def ensure_builtin_dataset(ws: Workspace, count: int | None = None,
                           on_create: Callable[[], None] | None = None):
    """Draw the built-in synthetic portraits if they are missing, then prepare them.

    `count` defaults to BUILTIN_COUNT (read at call time); `on_create` is called before
    drawing (to tell the user). Returns prepare's result.
    """
    from dcgan.data.prepare import prepare_dataset  # numpy and Pillow: only when called
    from dcgan.data.synthetic import generate_dataset

    folder = ws.dataset_dir(BUILTIN_DATASET)
    if not (folder / "import_report.json").is_file():
        if on_create:
            on_create()
        generate_dataset(folder, BUILTIN_COUNT if count is None else count, seed=0)
    return prepare_dataset(ws, BUILTIN_DATASET)
