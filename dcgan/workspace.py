"""The on-disk workspace ($DCGAN_HOME) and the one check that confines server-side paths.

Layout (names kept from the original ML241 project)::

    $DCGAN_HOME/DATA/DATASET/<name>/      imported source images + import_report.json
    $DCGAN_HOME/DATA/DATA_SCALE/<name>/   64x64 cache: images.npy, manifest.json, preview.png
    $DCGAN_HOME/GAN_MODEL/<run-id>/       one training run
    $DCGAN_HOME/cache/pca/                Explore's PCA directions per generator file
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from dcgan.errors import DatasetError, PathNotAllowed

DEFAULT_HOME = "workspace"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_name(name: str, what: str = "dataset name") -> str:
    """Return `name` if it is a safe folder name (letters, digits, '-', '_'; 1-64 chars)."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise DatasetError(
            f"invalid {what} {name!r}: use 1-64 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class DatasetInfo:
    """What the workspace knows about one dataset, for listings."""

    name: str
    source_files: int
    prepared_images: int | None  # None when the 64x64 cache was never built
    bytes_on_disk: int


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace root; creating the object touches nothing on disk."""

    root: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Workspace:
        env = os.environ if environ is None else environ
        return cls(Path(env.get("DCGAN_HOME") or DEFAULT_HOME).expanduser().resolve())

    @property
    def datasets_dir(self) -> Path:
        return self.root / "DATA" / "DATASET"

    @property
    def scale_dir(self) -> Path:
        return self.root / "DATA" / "DATA_SCALE"

    @property
    def runs_dir(self) -> Path:
        return self.root / "GAN_MODEL"

    @property
    def pca_dir(self) -> Path:
        return self.root / "cache" / "pca"

    def ensure(self) -> Workspace:
        for folder in (self.datasets_dir, self.scale_dir, self.runs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def dataset_dir(self, name: str) -> Path:
        return self.datasets_dir / check_name(name)

    def cache_dir(self, name: str) -> Path:
        return self.scale_dir / check_name(name)

    def prepared_cache(self, name: str) -> Path:
        """DATA_SCALE/<name>/images.npy, the (N, 64, 64, 3) uint8 cache; DatasetError if absent."""
        path = self.cache_dir(name) / "images.npy"
        if not path.is_file():
            raise DatasetError(f"dataset {name!r} is not prepared yet: prepare it on the "
                               f"Dataset page or run `python -m dcgan prepare {name}`")
        return path

    def dataset_names(self) -> list[str]:
        if not self.datasets_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.datasets_dir.iterdir() if p.is_dir() and NAME_RE.match(p.name)
        )

    def list_datasets(self) -> list[DatasetInfo]:
        infos = []
        for name in self.dataset_names():
            folder = self.dataset_dir(name)
            files = [p for p in folder.rglob("*") if p.is_file()]
            manifest = self.cache_dir(name) / "manifest.json"
            prepared = None
            if manifest.is_file():
                try:
                    prepared = int(json.loads(manifest.read_text())["count"])
                except (ValueError, KeyError, OSError):
                    prepared = None
            infos.append(
                DatasetInfo(
                    name=name,
                    source_files=sum(p.name != "import_report.json" for p in files),
                    prepared_images=prepared,
                    bytes_on_disk=sum(p.stat().st_size for p in files),
                )
            )
        return infos

    def is_shared(self, name: str) -> bool:
        """A dataset linked in read-only from a served class's shared workspace."""
        return self.dataset_dir(name).is_symlink() or self.cache_dir(name).is_symlink()

    def delete_dataset(self, name: str) -> None:
        """Remove a dataset's source folder and its cache; missing parts are ignored."""
        if self.is_shared(name):
            raise DatasetError(f"dataset {name!r} is shared by the whole class: it cannot "
                               "be deleted")
        for folder in (self.dataset_dir(name), self.cache_dir(name)):
            if folder.is_dir():
                shutil.rmtree(folder)


def allowed_roots(environ: dict[str, str] | None = None) -> list[Path] | None:
    """Roots from DCGAN_ALLOWED_ROOTS (os.pathsep-separated), resolved; None when unset."""
    env = os.environ if environ is None else environ
    raw = env.get("DCGAN_ALLOWED_ROOTS", "").strip()
    if not raw:
        return None
    return [Path(part).expanduser().resolve() for part in raw.split(os.pathsep) if part.strip()]


def confine(
    path: str | os.PathLike[str],
    *,
    workspace: Workspace,
    from_app: bool,
    environ: dict[str, str] | None = None,
) -> Path:
    """Resolve a user-supplied local path and check that it may be read.

    With DCGAN_ALLOWED_ROOTS set, the path (symlinks followed) must lie inside one of those
    roots. Unset, the CLI may read any path and the app only paths inside the workspace.
    The refusal reads the same whether or not the path exists.
    """
    roots = allowed_roots(environ)
    if roots is None:
        if not from_app:
            return Path(path).expanduser().resolve()
        roots = [workspace.root.resolve()]
    resolved = Path(os.path.realpath(os.path.expanduser(os.fspath(path))))
    if any(resolved == root or resolved.is_relative_to(root) for root in roots):
        return resolved
    raise PathNotAllowed(
        f"{os.fspath(path)!r} is not inside an allowed folder; allowed: "
        + ", ".join(str(r) for r in roots)
    )
