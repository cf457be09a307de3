"""dcgan.data.ingest: every "Dataset import" row of RELIABILITY.md, on real archives and servers."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from dcgan.data.images import MAX_PIXELS
from dcgan.data.ingest import (
    ImportLimits,
    download,
    import_files,
    import_folder,
    import_source,
    import_url,
    import_zip,
    is_junk,
)
from dcgan.errors import ImportRejected, PathNotAllowed
from tests.conftest import image_bytes, write_images


def make_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def patch_central(path: Path, offset: int, fmt: str, value: int) -> None:
    """Overwrite a field of every central-directory header (what zipfile reads)."""
    data = bytearray(path.read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        struct.pack_into(fmt, data, pos + offset, value)
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))


def dataset_files(ws, name):
    return sorted(p.name for p in ws.dataset_dir(name).iterdir())


def test_zip_with_nested_folders_and_junk(ws, tmp_path):
    members = {
        "faces/a.png": image_bytes(1),
        "faces/deeper/b.jpg": image_bytes(2, "JPEG"),
        "c.webp": image_bytes(3, "WEBP"),
        "__MACOSX/faces/._a.png": b"\x00\x05\x16\x07junk",
        "faces/._b.jpg": b"junk",
        ".DS_Store": b"junk",
        "Thumbs.db": b"junk",
        "notes.txt": b"hello",
    }
    report = import_zip(ws, make_zip(tmp_path / "in.zip", members), "faces")
    assert report.imported == 3
    assert report.junk == 5
    assert report.skipped == []
    assert dataset_files(ws, "faces") == [
        "img_000001.png", "img_000002.jpg", "img_000003.png", "import_report.json"]
    saved = json.loads((ws.dataset_dir("faces") / "import_report.json").read_text())
    assert saved["imported"] == 3 and saved["sizes"] == [[80, 96]] * 3


def test_progress_ends_at_the_total_with_folder_entries_and_duplicates(ws, tmp_path):
    path = tmp_path / "with-dirs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("faces/", b"")  # a folder entry: not a file, not counted
        zf.writestr("faces/a.png", image_bytes(1))
        zf.writestr("faces/copy.png", image_bytes(1))
        zf.writestr("faces/b.png", image_bytes(2))
    seen = []
    report = import_zip(ws, path, "dirs", progress_fn=lambda done, total: seen.append(
        (done, total)))
    assert seen[-1] == (3, 3)  # "Importing 3/3", never stuck at "2/4"
    assert all(total == 3 for _, total in seen)
    assert report.summary() == "2 imported, 1 duplicate dropped"


def test_zip_slip_names_are_never_used_as_paths(ws, tmp_path):
    members = {
        "../../evil.png": image_bytes(1),
        "/abs/evil2.png": image_bytes(2),
        "C:\\windows\\evil3.png": image_bytes(3),
        "ok/../../../evil4.png": image_bytes(4),
    }
    report = import_zip(ws, make_zip(tmp_path / "slip.zip", members), "slip")
    assert report.imported == 4
    assert not list(tmp_path.rglob("evil*"))
    names = dataset_files(ws, "slip")
    assert names == [f"img_00000{i}.png" for i in range(1, 5)] + ["import_report.json"]


def test_symlink_entries_are_skipped(ws, tmp_path):
    path = tmp_path / "links.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("real.png", image_bytes(1))
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    report = import_zip(ws, path, "links")
    assert report.imported == 1
    assert report.skipped == [{"file": "link.png", "reason": "symlink",
                               "detail": "links inside archives are never followed"}]


def test_too_many_entries_is_refused(ws, tmp_path):
    members = {f"{i}.png": image_bytes(i, size=(40, 40)) for i in range(12)}
    with pytest.raises(ImportRejected, match="12 entries, above the limit of 10"):
        import_zip(ws, make_zip(tmp_path / "many.zip", members), "many",
                   limits=ImportLimits(max_entries=10))
    assert not ws.dataset_dir("many").exists()


def test_total_uncompressed_size_is_capped(ws, tmp_path):
    members = {f"{i}.png": image_bytes(i) for i in range(3)}
    total = sum(len(v) for v in members.values())
    with pytest.raises(ImportRejected, match="would unpack to"):
        import_zip(ws, make_zip(tmp_path / "big.zip", members), "big",
                   limits=ImportLimits(max_total_bytes=total - 1))


def test_high_ratio_member_is_refused_as_a_bomb(ws, tmp_path):
    members = {"a.png": image_bytes(1), "bomb.png": b"\x00" * (8 * 1024 * 1024)}
    path = make_zip(tmp_path / "bomb.zip", members)
    assert path.stat().st_size < 100_000
    with pytest.raises(ImportRejected, match="zip bomb"):
        import_zip(ws, path, "bomb")
    assert not any(ws.datasets_dir.iterdir())  # temp folder removed too


def test_lying_sizes_never_unpack_past_the_cap(ws, tmp_path):
    path = make_zip(tmp_path / "liar.zip", {"a.png": image_bytes(1),
                                             "liar.png": b"\x11" * (3 * 1024 * 1024)})
    patch_central(path, 24, "<I", 1000)  # the header now claims 1000 bytes
    with pytest.raises(ImportRejected, match=r"damaged|truncated"):
        import_zip(ws, path, "liar", limits=ImportLimits(max_entry_bytes=2 * 1024 * 1024))


def test_encrypted_zip_is_refused(ws, tmp_path):
    path = make_zip(tmp_path / "enc.zip", {"a.png": image_bytes(1)})
    patch_central(path, 8, "<H", 0x1)
    with pytest.raises(ImportRejected, match="encrypted"):
        import_zip(ws, path, "enc")


def test_unsupported_compression_is_refused(ws, tmp_path):
    path = make_zip(tmp_path / "ppmd.zip", {"a.png": image_bytes(1)})
    patch_central(path, 10, "<H", 98)
    with pytest.raises(ImportRejected, match="unsupported compression method"):
        import_zip(ws, path, "ppmd")


def test_not_a_zip_and_truncated_zip_are_refused(ws, tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_text("this is not an archive")
    with pytest.raises(ImportRejected, match="not a zip file"):
        import_zip(ws, fake, "fake")
    with pytest.raises(ImportRejected, match="not a zip file"):
        import_source(ws, [str(fake)], "fake")
    real = make_zip(tmp_path / "real.zip", {f"{i}.png": image_bytes(i) for i in range(4)})
    cut = tmp_path / "cut.zip"
    cut.write_bytes(real.read_bytes()[: real.stat().st_size // 2])
    with pytest.raises(ImportRejected, match="truncated"):
        import_zip(ws, cut, "cut")


def test_bad_images_are_reported_per_file_and_the_rest_imported(ws, tmp_path):
    bomb = io.BytesIO()
    side = int(MAX_PIXELS**0.5) + 200
    Image.new("1", (side, side)).save(bomb, format="PNG")
    good_jpeg = image_bytes(9, "JPEG")
    members = {
        "good.png": image_bytes(1),
        "bomb.png": bomb.getvalue(),
        "truncated.jpg": good_jpeg[: len(good_jpeg) // 3],
        "empty.png": b"",
        "text.jpg": b"definitely not a jpeg" * 20,
        "tiny.png": image_bytes(2, size=(16, 16)),
        "banner.png": image_bytes(3, size=(400, 60)),
    }
    report = import_zip(ws, make_zip(tmp_path / "mixed.zip", members), "mixed")
    assert report.imported == 1
    assert {s["file"]: s["reason"] for s in report.skipped} == {
        "bomb.png": "too-many-pixels",
        "truncated.jpg": "corrupt",
        "empty.png": "empty-file",
        "text.jpg": "not-an-image",
        "tiny.png": "too-small",
        "banner.png": "extreme-aspect",
    }
    assert "6 skipped" in report.summary()


def test_duplicates_are_detected_by_pixels(ws, tmp_path):
    png = image_bytes(1)
    bmp = image_bytes(1, "BMP")  # same pixels, other container
    members = {"a.png": png, "copy/a.png": png, "a.bmp": bmp, "b.png": image_bytes(2)}
    report = import_zip(ws, make_zip(tmp_path / "dups.zip", members), "dups")
    assert report.imported == 2
    assert report.duplicates == [{"file": "copy/a.png", "duplicate_of": "a.png"},
                                 {"file": "a.bmp", "duplicate_of": "a.png"}]
    kept = import_zip(ws, tmp_path / "dups.zip", "dups2", keep_duplicates=True)
    assert kept.imported == 4 and kept.duplicates == []


def test_zero_usable_images_says_why_and_leaves_nothing(ws, tmp_path):
    members = {"a.txt": b"x", "b.jpg": b"not an image", "c.png": b""}
    with pytest.raises(ImportRejected) as info:
        import_zip(ws, make_zip(tmp_path / "none.zip", members), "none")
    message = str(info.value)
    assert "no usable images" in message and "2 skipped" in message
    assert "1 empty-file" in message and "1 not-an-image" in message
    assert "1 non-image file ignored" in message
    assert not ws.dataset_dir("none").exists()
    assert list(ws.datasets_dir.iterdir()) == []


def test_existing_dataset_is_not_overwritten(ws, tmp_path):
    path = make_zip(tmp_path / "a.zip", {"a.png": image_bytes(1)})
    import_zip(ws, path, "same")
    with pytest.raises(ImportRejected, match="already exists"):
        import_zip(ws, path, "same")


def test_large_images_are_downscaled_on_import(ws, tmp_path):
    members = {"big.jpg": image_bytes(1, "JPEG", size=(1200, 1600), quality=90)}
    report = import_zip(ws, make_zip(tmp_path / "big.zip", members), "big")
    assert report.sizes == [(1200, 1600)]
    with Image.open(ws.dataset_dir("big") / "img_000001.jpg") as img:
        assert img.size == (1024, 1365)


def test_exif_rotated_jpeg_is_stored_upright(ws, tmp_path):
    img = Image.new("RGB", (90, 60), (10, 10, 10))
    exif = img.getexif()
    exif[0x0112] = 8
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    import_zip(ws, make_zip(tmp_path / "exif.zip", {"r.jpg": buf.getvalue()}), "exif")
    with Image.open(ws.dataset_dir("exif") / "img_000001.jpg") as stored:
        assert stored.size == (60, 90)


def test_folder_import_walks_nested_folders(ws, tmp_path):
    src = tmp_path / "photos"
    write_images(src / "2023" / "summer", 2)
    write_images(src / "2024", 2, start=10, fmt="JPEG")
    (src / ".DS_Store").write_bytes(b"x")
    report = import_folder(ws, src, "photos")
    assert report.imported == 4 and report.junk == 1


def test_folder_import_skips_links_that_leave_the_allowed_root(ws, tmp_path, monkeypatch):
    root = tmp_path / "data"
    write_images(root / "faces", 2)
    secret = tmp_path / "secret.png"
    secret.write_bytes(image_bytes(42))
    (root / "faces" / "sneaky.png").symlink_to(secret)
    monkeypatch.setenv("DCGAN_ALLOWED_ROOTS", str(root))
    report = import_folder(ws, root / "faces", "faces", from_app=True)
    assert report.imported == 2
    assert report.skipped == [{"file": "sneaky.png", "reason": "outside-allowed-roots",
                               "detail": "a link leaving the folder"}]


def test_server_folder_outside_roots_is_refused(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_ALLOWED_ROOTS", str(tmp_path / "data"))
    write_images(tmp_path / "data-evil", 2)
    with pytest.raises(PathNotAllowed):
        import_folder(ws, tmp_path / "data-evil", "evil", from_app=True)
    with pytest.raises(PathNotAllowed):
        import_source(ws, [str(tmp_path / "data" / ".." / "data-evil")], "evil")


def test_app_reads_only_the_workspace_when_no_roots_are_set(ws, tmp_path):
    write_images(tmp_path / "elsewhere", 2)
    with pytest.raises(PathNotAllowed):
        import_folder(ws, tmp_path / "elsewhere", "x", from_app=True)
    report = import_folder(ws, tmp_path / "elsewhere", "x", from_app=False)
    assert report.imported == 2


def test_image_files_from_the_cli(ws, tmp_path):
    paths = write_images(tmp_path / "loose", 3)
    report = import_source(ws, [str(p) for p in paths], "loose")
    assert report.imported == 3
    with pytest.raises(ImportRejected, match="not found"):
        import_source(ws, [str(tmp_path / "missing.png")], "missing")


def test_uploads_with_size_limit(ws):
    files = [(f"{i}.png", image_bytes(i)) for i in range(3)]
    total = sum(len(d) for _, d in files)
    with pytest.raises(ImportRejected, match="above the limit"):
        import_files(ws, files, "up", limits=ImportLimits(max_source_bytes=total - 1))
    assert import_files(ws, files, "up").imported == 3


def test_uploaded_zip_is_unpacked(ws, tmp_path):
    data = make_zip(tmp_path / "u.zip", {"a.png": image_bytes(1), "b.txt": b"x"}).read_bytes()
    report = import_files(ws, [("u.zip", data)], "upzip")
    assert (report.imported, report.junk, report.source) == (1, 1, "u.zip")
    with pytest.raises(ImportRejected, match="not both"):
        import_files(ws, [("u.zip", data), ("a.png", image_bytes(2))], "mix")


def test_url_import(ws, http_server, tmp_path):
    root, base = http_server
    make_zip(root / "faces.zip", {f"{i}.png": image_bytes(i) for i in range(3)})
    report = import_url(ws, f"{base}/faces.zip", "web")
    assert report.imported == 3 and report.source == f"{base}/faces.zip"
    assert import_source(ws, [f"{base}/faces.zip"], "web2").imported == 3


@pytest.mark.parametrize(
    "url, match",
    [
        ("ftp://example.invalid/a.zip", "only http"),
        ("file:///etc/passwd", "only http"),
        ("{base}/missing.zip", "could not download"),
        ("{base}/notzip.zip", "not a zip file"),
        ("{base}/redirect-file", "not allowed"),
        ("http://127.0.0.1:9/unreachable.zip", "could not download"),
    ],
)
def test_bad_urls_are_refused(ws, http_server, url, match):
    root, base = http_server
    (root / "notzip.zip").write_text("<html>not a zip</html>")
    with pytest.raises(ImportRejected, match=match):
        import_url(ws, url.format(base=base), "bad")


def test_download_limits_remove_partial_files(http_server, tmp_path):
    root, base = http_server
    (root / "big.bin").write_bytes(b"x" * 300_000)
    dest = tmp_path / "dl.zip"
    with pytest.raises(ImportRejected, match="above the limit"):
        download(f"{base}/big.bin", dest, ImportLimits(max_source_bytes=100_000))
    assert not dest.exists()
    (root / "slow.bin").write_bytes(b"y" * 40_000)
    with pytest.raises(ImportRejected, match="longer than"):
        download(f"{base}/slow/slow.bin", dest, ImportLimits(url_timeout_s=0.5))
    assert not dest.exists()


def test_is_junk():
    assert is_junk("__MACOSX/a.png") and is_junk("x/._a.jpg") and is_junk("Thumbs.db")
    assert is_junk("readme.md") and is_junk("noext")
    assert not is_junk("deep/nested/Face.JPEG")
