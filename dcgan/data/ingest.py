"""Safe import of images into DATA/DATASET/<name>: zip, folder, files, uploads, URL, synthetic.

Nothing from a source is ever used as a path: each candidate image is read as bytes (with a
size cap), decoded by dcgan.data.images, and re-encoded under a generated name (img_000001.jpg
for JPEG sources, .png otherwise) into a temporary folder that is renamed into place only
when the import succeeds. import_report.json lists every skipped file with its reason.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image

from dcgan.data.images import IMAGE_SUFFIXES, decode_image, fit_short_side
from dcgan.errors import ImageRejected, ImportRejected, PathNotAllowed
from dcgan.workspace import Workspace, check_name, confine

JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "import_report.json"})
MiB = 1024 * 1024
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportLimits:
    """Caps that keep an import from filling the disk; every one is named in its error."""

    max_entries: int = 100_000  # members in one archive
    max_entry_bytes: int = 64 * MiB  # one image, uncompressed
    max_total_bytes: int = 4096 * MiB  # all members together, uncompressed
    max_ratio: float = 100.0  # uncompressed / compressed, for members above 1 MiB
    max_source_bytes: int = 1024 * MiB  # an uploaded or downloaded archive
    url_timeout_s: float = 30.0  # whole download
    # Imports are downscaled to this: models use 64 px, but a face in a group photo needs
    # the pixels (a face 130 px wide in a 4000x3000 group photo is still 45 px at 1024).
    max_short_side: int = 1024


@dataclass
class ImportReport:
    """What an import did; saved as import_report.json beside the images."""

    dataset: str
    source: str
    imported: int = 0
    junk: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    duplicates: list[dict[str, str]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)  # source (width, height)

    def skip(self, name: str, reason: str, detail: str = "") -> None:
        self.skipped.append({"file": name, "reason": reason, "detail": detail})

    def reasons(self) -> dict[str, int]:
        return dict(Counter(s["reason"] for s in self.skipped))

    def summary(self) -> str:
        parts = [f"{self.imported} imported"]
        if self.skipped:
            why = ", ".join(f"{n} {r}" for r, n in sorted(self.reasons().items()))
            parts.append(f"{len(self.skipped)} skipped ({why})")
        if self.duplicates:
            parts.append(_count(len(self.duplicates), "duplicate") + " dropped")
        if self.junk:
            parts.append(_count(self.junk, "non-image file") + " ignored")
        return ", ".join(parts)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def is_junk(name: str) -> bool:
    """True for OS litter and non-image files, which are skipped silently and counted."""
    path = name.replace("\\", "/")
    base = path.rsplit("/", 1)[-1].lower()
    if base in JUNK_NAMES or base.startswith("._") or "__MACOSX" in path.split("/"):
        return True
    dot = base.rfind(".")
    return dot <= 0 or base[dot:] not in IMAGE_SUFFIXES


class _DatasetWriter:
    """Decodes candidate images, drops duplicates, writes normalised files into a temp folder."""

    def __init__(self, workspace: Workspace, name: str, source: str, limits: ImportLimits,
                 keep_duplicates: bool):
        self.final_dir = workspace.dataset_dir(name)
        if self.final_dir.exists() and any(self.final_dir.iterdir()):
            raise ImportRejected(
                f"dataset {name!r} already exists: choose another name or delete it first"
            )
        workspace.datasets_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=workspace.datasets_dir))
        self.report = ImportReport(dataset=name, source=source)
        self.limits = limits
        self.keep_duplicates = keep_duplicates
        self.seen: dict[str, str] = {}

    def add(self, display_name: str, data: bytes) -> None:
        try:
            img = decode_image(data, draft_to=self.limits.max_short_side)
        except ImageRejected as exc:
            self.report.skip(display_name, exc.reason, exc.detail)
            return
        source_size = _declared_size(data) or img.size
        img = fit_short_side(img, self.limits.max_short_side)
        digest = hashlib.sha256(img.tobytes()).hexdigest()
        if digest in self.seen and not self.keep_duplicates:
            self.report.duplicates.append({"file": display_name, "duplicate_of": self.seen[digest]})
            return
        self.seen.setdefault(digest, display_name)
        self.report.imported += 1
        self.report.sizes.append(tuple(source_size))
        is_jpeg = data[:3] == b"\xff\xd8\xff"
        out = self.tmp_dir / f"img_{self.report.imported:06d}.{'jpg' if is_jpeg else 'png'}"
        if is_jpeg:
            img.save(out, quality=95)
        else:
            img.save(out, compress_level=1)

    def commit(self) -> ImportReport:
        if self.report.imported == 0:
            self.abort()
            why = ", ".join(f"{n} {r}" for r, n in sorted(self.report.reasons().items()))
            raise ImportRejected(
                "no usable images found"
                + (f": {len(self.report.skipped)} skipped ({why})" if why else "")
                + (f", {_count(self.report.junk, 'non-image file')} ignored"
                   if self.report.junk else "")
                + ". Accepted: JPEG, PNG, WebP, BMP, GIF, TIFF."
            )
        (self.tmp_dir / "import_report.json").write_text(self.report.to_json())
        if self.final_dir.exists():
            self.final_dir.rmdir()  # empty, checked in __init__
        os.replace(self.tmp_dir, self.final_dir)
        return self.report

    def abort(self) -> None:
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """The stored (width, height) before EXIF rotation or downscaling, for statistics."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:
        return None


def _run(writer: _DatasetWriter, items: Iterable[tuple[str, bytes | None]],
         progress_fn: ProgressFn | None, total: int) -> ImportReport:
    try:
        for done, (name, data) in enumerate(items, start=1):
            if data is None:
                writer.report.junk += 1
            else:
                writer.add(name, data)
            if progress_fn:
                progress_fn(done, total)
        if progress_fn:  # every entry handled, counted or not (folders, skipped members)
            progress_fn(total, total)
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def _zip_members(archive: zipfile.ZipFile, limits: ImportLimits,
                 report: ImportReport) -> Iterator[tuple[str, bytes | None]]:
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise ImportRejected(
            f"the zip has {len(infos):,} entries, above the limit of {limits.max_entries:,}"
        )
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        raise ImportRejected(
            f"the zip would unpack to {total / MiB:,.0f} MiB, above the limit of "
            f"{limits.max_total_bytes / MiB:,.0f} MiB"
        )
    if any(i.flag_bits & 0x1 for i in infos):
        raise ImportRejected("the zip is encrypted: re-create it without a password")
    supported = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
    odd = {i.compress_type for i in infos if i.compress_type not in supported}
    if odd:
        raise ImportRejected(
            f"the zip uses an unsupported compression method ({sorted(odd)}): "
            "re-create it with standard (Deflate) compression"
        )
    unpacked = 0
    for info in infos:
        name = info.filename
        if info.is_dir():
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            report.skip(name, "symlink", "links inside archives are never followed")
            continue
        if is_junk(name):
            yield name, None
            continue
        if info.file_size > limits.max_entry_bytes:
            report.skip(name, "too-large", f"{info.file_size / MiB:.0f} MiB uncompressed")
            continue
        if info.file_size > MiB and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ImportRejected(
                f"{name!r} expands {info.file_size / max(info.compress_size, 1):,.0f}x: "
                "this looks like a zip bomb and was refused"
            )
        data = _read_member(archive, info, limits)
        unpacked += len(data)
        if unpacked > limits.max_total_bytes:
            raise ImportRejected("the zip unpacks to more than its declared size: refused")
        yield name, data


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ImportLimits) -> bytes:
    """Read one member, never more than the per-entry cap, whatever its header claims."""
    try:
        with archive.open(info) as fh:
            data = fh.read(limits.max_entry_bytes + 1)
    except zipfile.BadZipFile as exc:
        raise ImportRejected(f"the zip is damaged at {info.filename!r}: {exc}") from None
    except (EOFError, OSError) as exc:
        raise ImportRejected(f"the zip is truncated or damaged at {info.filename!r}: {exc}") \
            from None
    if len(data) > limits.max_entry_bytes:
        raise ImportRejected(
            f"{info.filename!r} unpacks to more than "
            f"{limits.max_entry_bytes / MiB:.0f} MiB: refused"
        )
    return data


def import_zip(workspace: Workspace, archive_path: str | os.PathLike[str], name: str, *,
               limits: ImportLimits = ImportLimits(), keep_duplicates: bool = False,
               progress_fn: ProgressFn | None = None, source: str | None = None) -> ImportReport:
    """Import the images inside a zip file (nested folders walked, junk skipped)."""
    check_name(name)
    size = os.path.getsize(archive_path)
    if size > limits.max_source_bytes:
        raise ImportRejected(
            f"the archive is {size / MiB:,.0f} MiB, above the limit of "
            f"{limits.max_source_bytes / MiB:,.0f} MiB"
        )
    try:
        archive = zipfile.ZipFile(archive_path)
    except zipfile.BadZipFile:
        raise ImportRejected(
            "not a zip file, or a truncated one (its directory is missing): "
            "check the download and try again"
        ) from None
    with archive:
        writer = _DatasetWriter(workspace, name, source or Path(archive_path).name, limits,
                                keep_duplicates)
        members = _zip_members(archive, limits, writer.report)
        files = sum(not info.is_dir() for info in archive.infolist())
        return _run(writer, members, progress_fn, files)


def _read_files(paths: Iterable[tuple[str, Path]], limits: ImportLimits,
                report: ImportReport) -> Iterator[tuple[str, bytes | None]]:
    for display, path in paths:
        if is_junk(display):
            yield display, None
            continue
        try:
            size = path.stat().st_size
            if size > limits.max_entry_bytes:
                report.skip(display, "too-large", f"{size / MiB:.0f} MiB")
                continue
            yield display, path.read_bytes()
        except OSError as exc:
            report.skip(display, "unreadable", exc.strerror or str(exc))


def import_folder(workspace: Workspace, folder: str | os.PathLike[str], name: str, *,
                  from_app: bool = False, limits: ImportLimits = ImportLimits(),
                  keep_duplicates: bool = False,
                  progress_fn: ProgressFn | None = None) -> ImportReport:
    """Import every image below a server folder (confined by DCGAN_ALLOWED_ROOTS)."""
    check_name(name)
    root = confine(folder, workspace=workspace, from_app=from_app)
    if not root.is_dir():
        raise ImportRejected(f"{os.fspath(folder)!r} is not a folder")
    writer = _DatasetWriter(workspace, name, os.fspath(folder), limits, keep_duplicates)
    files: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for fname in sorted(filenames):
            path = Path(dirpath) / fname
            display = path.relative_to(root).as_posix()
            try:
                files.append((display, confine(path, workspace=workspace, from_app=from_app)))
            except PathNotAllowed:  # a link escaping the roots: skipped, never followed
                writer.report.skip(display, "outside-allowed-roots", "a link leaving the folder")
    return _run(writer, _read_files(files, limits, writer.report), progress_fn, len(files))


def import_files(workspace: Workspace, files: Iterable[tuple[str, bytes]], name: str, *,
                 limits: ImportLimits = ImportLimits(), keep_duplicates: bool = False,
                 progress_fn: ProgressFn | None = None, source: str = "upload") -> ImportReport:
    """Import uploaded (name, bytes) pairs; a single zip among them is unpacked."""
    check_name(name)
    files = list(files)
    total = sum(len(data) for _, data in files)
    if total > limits.max_source_bytes:
        raise ImportRejected(
            f"the upload is {total / MiB:,.0f} MiB, above the limit of "
            f"{limits.max_source_bytes / MiB:,.0f} MiB"
        )
    zips = [(n, d) for n, d in files if n.lower().endswith(".zip")]
    if zips:
        if len(files) != 1:
            raise ImportRejected("upload either one zip file or image files, not both")
        with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
            tmp.write(zips[0][1])
            tmp.flush()
            return import_zip(workspace, tmp.name, name, limits=limits,
                              keep_duplicates=keep_duplicates, progress_fn=progress_fn,
                              source=zips[0][0])
    writer = _DatasetWriter(workspace, name, source, limits, keep_duplicates)

    def items() -> Iterator[tuple[str, bytes | None]]:
        for fname, data in files:
            if is_junk(fname):
                yield fname, None
            elif len(data) > limits.max_entry_bytes:
                writer.report.skip(fname, "too-large", f"{len(data) / MiB:.0f} MiB")
            else:
                yield fname, data

    return _run(writer, items(), progress_fn, len(files))


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise ImportRejected(f"the server redirected to a non-http(s) address: {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download(url: str, dest: Path, limits: ImportLimits) -> None:
    """Download an http(s) URL to `dest`, within the size and time limits; no partial file."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ImportRejected(f"only http:// and https:// URLs are accepted, not {url!r}")
    opener = urllib.request.build_opener(_HttpOnlyRedirects())
    deadline = time.monotonic() + limits.url_timeout_s
    try:
        with opener.open(url, timeout=min(10.0, limits.url_timeout_s)) as response, \
                open(dest, "wb") as out:
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > limits.max_source_bytes:
                raise ImportRejected(
                    f"the download is {declared / MiB:,.0f} MiB, above the limit of "
                    f"{limits.max_source_bytes / MiB:,.0f} MiB"
                )
            received = 0
            while chunk := response.read(256 * 1024):
                received += len(chunk)
                if received > limits.max_source_bytes:
                    raise ImportRejected(
                        f"the download is larger than the limit of "
                        f"{limits.max_source_bytes / MiB:,.0f} MiB"
                    )
                if time.monotonic() > deadline:
                    raise ImportRejected(
                        f"the download took longer than {limits.url_timeout_s:g} s: try a "
                        "faster server or download the zip and upload it"
                    )
                out.write(chunk)
    except ImportRejected:
        dest.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        dest.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise ImportRejected(f"could not download {url}: {reason}") from None


def import_url(workspace: Workspace, url: str, name: str, *,
               limits: ImportLimits = ImportLimits(), keep_duplicates: bool = False,
               progress_fn: ProgressFn | None = None) -> ImportReport:
    """Download a zip from an http(s) URL and import it."""
    check_name(name)
    with tempfile.TemporaryDirectory(prefix="dcgan-download-") as tmp:
        dest = Path(tmp) / "download.zip"
        download(url, dest, limits)
        return import_zip(workspace, dest, name, limits=limits, keep_duplicates=keep_duplicates,
                          progress_fn=progress_fn, source=url)


def import_source(workspace: Workspace, sources: list[str], name: str, *,
                  from_app: bool = False, limits: ImportLimits = ImportLimits(),
                  keep_duplicates: bool = False,
                  progress_fn: ProgressFn | None = None) -> ImportReport:
    """The CLI's entry: a URL, a zip, a folder, or one or more image files."""
    if not sources:
        raise ImportRejected("nothing to import: give a zip, a folder, image files or a URL")
    first = sources[0]
    if len(sources) == 1 and "://" in first:  # a URL; import_url refuses non-http(s)
        return import_url(workspace, first, name, limits=limits,
                          keep_duplicates=keep_duplicates, progress_fn=progress_fn)
    paths = [confine(s, workspace=workspace, from_app=from_app) for s in sources]
    missing = [s for s, p in zip(sources, paths, strict=True) if not p.exists()]
    if missing:
        raise ImportRejected(f"not found: {', '.join(missing)}")
    if len(paths) == 1 and paths[0].is_dir():
        return import_folder(workspace, paths[0], name, from_app=from_app, limits=limits,
                             keep_duplicates=keep_duplicates, progress_fn=progress_fn)
    if len(paths) == 1 and zipfile.is_zipfile(paths[0]):
        return import_zip(workspace, paths[0], name, limits=limits,
                          keep_duplicates=keep_duplicates, progress_fn=progress_fn)
    if len(paths) == 1 and paths[0].suffix.lower() == ".zip":
        raise ImportRejected(
            "not a zip file, or a truncated one (its directory is missing): "
            "check the download and try again"
        )
    writer = _DatasetWriter(workspace, name, ", ".join(sources), limits, keep_duplicates)
    files = [(p.name, p) for p in paths]
    return _run(writer, _read_files(files, limits, writer.report), progress_fn, len(files))
