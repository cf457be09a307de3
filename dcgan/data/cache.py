"""The prepared 64x64 cache on disk: random access to its rows without mapping the file.

Rows are read with positional reads (os.pread) rather than a memory map, so a reader's
memory stays flat however large the dataset is. Data preparation, training's input
pipeline, the quality metrics and Explore all read the cache through this class.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from dcgan.errors import DatasetError


class CacheReader:
    """Random access to the rows of an (N, H, W, 3) uint8 .npy file without mapping it."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(fh)
            self.offset = fh.tell()
        if dtype != np.uint8 or fortran or len(shape) != 4 or shape[3] != 3:
            raise DatasetError(f"{self.path} is not an (N, H, W, 3) uint8 image cache")
        self.shape = tuple(shape)
        self.row_bytes = int(np.prod(shape[1:]))

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Rows at `indices` (any order) as a new (k, H, W, 3) uint8 array."""
        out = np.empty((len(indices), *self.shape[1:]), dtype=np.uint8)
        flat = out.reshape(len(indices), self.row_bytes)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for k, i in enumerate(indices):
                view = memoryview(flat[k])
                got = os.preadv(fd, [view], self.offset + int(i) * self.row_bytes)
                if got != self.row_bytes:
                    raise DatasetError(f"{self.path} is truncated at row {i}")
        finally:
            os.close(fd)
        return out


def cache_settings(cache_dir: Path) -> dict | None:
    """How a prepared cache's images were made: its manifest's settings (size, crop, face
    zoom...), or None when there is no readable manifest."""
    try:
        settings = json.loads((Path(cache_dir) / "manifest.json").read_text()).get("settings")
    except (OSError, ValueError, AttributeError):
        return None
    return settings if isinstance(settings, dict) else None
