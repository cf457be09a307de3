"""AppTest of the Dataset page: every source, errors shown to people, prepare, delete."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.conftest import astronaut, image_bytes, jpeg_bytes, write_images

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "dataset.py")


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60).run()


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


def test_empty_workspace(ws):
    at = page()
    assert not at.exception
    assert at.title[0].value == "Dataset"
    assert "No dataset yet" in texts(at.info)


def test_synthetic_portraits_in_one_click(ws):
    at = page()
    at.text_input(key="dataset_synth_name").set_value("faces")
    at.number_input(key="dataset_synth_count").set_value(64)
    at.button(key="dataset_synth_go").click().run()
    assert not at.exception
    assert "faces**: 64 portraits created and prepared" in texts(at.success)
    info = ws.list_datasets()[0]
    assert (info.name, info.source_files, info.prepared_images) == ("faces", 64, 64)
    assert any(m.label == "Prepared" and m.value == "64" for m in at.metric)
    assert len(at.get("image")) >= 2  # first imported images + the cache preview


def test_bad_name_and_existing_name(ws):
    at = page()
    at.text_input(key="dataset_synth_name").set_value("../up")
    at.button(key="dataset_synth_go").click().run()
    assert not at.exception and "invalid dataset name" in texts(at.error)
    write_images(ws.dataset_dir("taken"), 2)
    at.text_input(key="dataset_synth_name").set_value("taken")
    at.button(key="dataset_synth_go").click().run()
    assert "exists already" in texts(at.error)


def test_upload_zip_with_a_corrupt_file_is_reported(ws):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"faces/{i}.png", image_bytes(i))
        zf.writestr("faces/broken.jpg", b"not really a jpeg")
    at = page()
    at.file_uploader(key="dataset_upload_files").set_value(
        [("faces.zip", buf.getvalue(), "application/zip")]).run()
    at.text_input(key="dataset_upload_name").set_value("uploaded")
    at.button(key="dataset_upload_go").click().run()
    assert not at.exception
    assert "uploaded**: 3 imported, 1 skipped (1 not-an-image)" in texts(at.success)
    skipped = at.dataframe[0].value
    assert list(skipped["file"]) == ["faces/broken.jpg"]
    assert list(skipped["reason"]) == ["not-an-image"]
    assert any(m.label == "Prepared" and m.value == "—" for m in at.metric)
    assert at.radio(key="dataset_crop_uploaded").value == "face"  # imports default to faces
    at.radio(key="dataset_crop_uploaded").set_value("center")  # these are not photos of faces
    at.button(key="dataset_prepare").click().run()
    assert "uploaded: 3 images ready (centre crops)" in texts(at.success)
    assert "centre squares" in texts(at.caption)
    # read after the action, in the same click: the metric, the box and the preview agree
    assert any(m.label == "Prepared" and m.value == "3" for m in at.metric)
    box = at.selectbox(key="dataset_choice")
    assert box.value == "uploaded" and "3 prepared" in box.format_func(box.value)
    assert any("the prepared 64x64 cache" in (i.proto.imgs[0].caption or "")
               for i in at.get("image"))
    assert at.button(key="dataset_prepare").label == "Refresh the 64x64 cache"


def test_bad_upload_and_folder_and_url_show_errors(ws, tmp_path):
    at = page()
    at.file_uploader(key="dataset_upload_files").set_value(
        [("fake.zip", b"this is not a zip", "application/zip")]).run()
    at.button(key="dataset_upload_go").click().run()
    assert not at.exception and "not a zip file" in texts(at.error)

    write_images(tmp_path / "outside", 2)
    at.text_input(key="dataset_folder_path").set_value(str(tmp_path / "outside")).run()
    at.button(key="dataset_folder_go").click().run()
    assert "not inside an allowed folder" in texts(at.error)

    at.text_input(key="dataset_url_link").set_value("ftp://example.invalid/x.zip").run()
    at.button(key="dataset_url_go").click().run()
    assert "only http:// and https://" in texts(at.error)
    assert ws.list_datasets() == []


def test_server_folder_inside_the_workspace(ws):
    write_images(ws.root / "incoming", 3)
    at = page()
    at.text_input(key="dataset_folder_path").set_value(str(ws.root / "incoming")).run()
    at.text_input(key="dataset_folder_name").set_value("incoming")
    at.button(key="dataset_folder_go").click().run()
    assert not at.exception and "incoming**: 3 imported" in texts(at.success)


def test_url_import(ws, http_server):
    root, base = http_server
    with zipfile.ZipFile(root / "web.zip", "w") as zf:
        for i in range(2):
            zf.writestr(f"{i}.png", image_bytes(i))
    at = page()
    at.text_input(key="dataset_url_link").set_value(f"{base}/web.zip").run()
    at.button(key="dataset_url_go").click().run()
    assert not at.exception and "web-photos**: 2 imported" in texts(at.success)


def test_delete_needs_confirmation(ws):
    write_images(ws.dataset_dir("doomed"), 2)
    at = page()
    assert at.button(key="dataset_delete").disabled
    at.checkbox(key="dataset_delete_sure").check().run()
    at.button(key="dataset_delete").click().run()
    assert not at.exception
    assert ws.list_datasets() == []


def test_a_zip_of_photos_gets_its_faces_found_shown_and_explained(ws):
    """Two photos of a face, one photo without, one with a face too small to use."""
    from PIL import Image

    photo = astronaut()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, picture in (("me.jpg", photo), ("me-again.jpg", photo.resize((200, 200))),
                              ("far.jpg", photo.resize((48, 48)))):
            if name == "far.jpg":
                canvas = Image.new("RGB", (320, 240), (90, 120, 150))
                canvas.paste(picture, (140, 90))
                picture = canvas
            zf.writestr(f"photos/{name}", jpeg_bytes(picture))
        zf.writestr("photos/wall.png", image_bytes(5, size=(300, 200)))
    at = page()
    at.file_uploader(key="dataset_upload_files").set_value(
        [("photos.zip", buf.getvalue(), "application/zip")]).run()
    at.text_input(key="dataset_upload_name").set_value("mine")
    at.button(key="dataset_upload_go").click().run()
    at.button(key="dataset_prepare").click().run()  # faces, without being asked
    assert not at.exception
    assert "mine: 2 images ready (faces)" in texts(at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Photos"], metrics["Faces used"], metrics["Photos without a face"],
            metrics["Faces too small"]) == ("4", "2", "1", "1")
    assert "aligned faces" in texts(at.caption)
    assert not at.warning  # 2 of 4 photos: half, no warning yet
    reasons = at.dataframe[-1].value
    assert sorted(reasons["reason"]) == ["face-too-small", "no-face"]
    captions = [i.proto.imgs[0].caption or "" for i in at.get("image")]
    assert any("faces found" in c for c in captions)  # the sheet of photos and crops
