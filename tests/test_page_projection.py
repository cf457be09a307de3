"""AppTest of Explore's photo projection and generator bundles (on the bundled demo)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from dcgan.data.synthetic import render_portrait
from tests.test_page_explore import PAGE, first_image, open_tab, server_rendered


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def demo_page() -> AppTest:
    return server_rendered(AppTest.from_file(PAGE, default_timeout=180)).run()


def test_a_projected_photo_becomes_the_current_portrait(ws):
    at = open_tab(demo_page(), "Your photo")
    seed_image = first_image(at)
    assert at.button(key="explore_ph_go").disabled  # no photo yet
    at.file_uploader(key="explore_ph_upload").set_value(
        [("me.png", png(render_portrait(3, 7, 150)), "image/png")]).run()
    assert not at.button(key="explore_ph_go").disabled
    at.slider(key="explore_ph_steps").set_value(50).run()
    at.button(key="explore_ph_go").click().run()
    assert not at.exception
    flash = at.success[0].value
    assert flash.startswith("Projected **me.png** after 50 steps (RMS ")
    assert "Starting from your photo **me.png**" in at.info[0].value
    projected = first_image(at)
    assert projected != seed_image
    captions = [i.caption for img in at.get("image") for i in img.proto.imgs]
    assert "from your photo me.png" in captions
    reconstruction = next(c for c in captions if c.startswith("Reconstruction · RMS "))
    assert float(reconstruction.split()[3]) == float(flash.split("(RMS ")[1].split()[0])
    at.slider(key="explore_dir_Lighter skin").set_value(2.0).run()  # a slider acts on it
    assert first_image(at) not in (projected, seed_image)
    assert "Starting from your photo" in at.info[0].value
    at.button(key="explore_unphoto").click().run()  # back to the seed
    assert not [i for i in at.info if "Starting from your photo" in i.value]


def test_a_bad_photo_gets_the_import_errors(ws):
    at = open_tab(demo_page(), "Your photo")
    at.file_uploader(key="explore_ph_upload").set_value(
        [("photo.jpg", b"plain text, not a photo", "image/jpeg")]).run()
    assert not at.exception
    assert "not-an-image: the content is not a readable image" in at.error[0].value
    assert at.button(key="explore_ph_go").disabled
    tiny = Image.new("RGB", (16, 16), (200, 100, 50))
    at.file_uploader(key="explore_ph_upload").set_value([("tiny.png", png(tiny), "image/png")])
    at.run()
    assert "too-small: 16x16; the shorter side must be >= 32" in at.error[0].value


def test_photos_of_a_prepared_dataset_and_interpolation_between_two(ws, finished_run):
    at = server_rendered(AppTest.from_file(PAGE, default_timeout=180)).run()
    at.radio(key="explore_source").set_value("Training run").run()
    open_tab(at, "Your photo")
    at.radio(key="explore_ph_from").set_value("A prepared dataset").run()
    assert at.selectbox(key="explore_ph_dataset").value == "tiny"  # the run's own data
    at.slider(key="explore_ph_steps").set_value(50).run()
    for row in (3, 9):
        at.number_input(key="explore_ph_row").set_value(row).run()
        at.button(key="explore_ph_go").click().run()
        assert not at.exception
        assert at.success[0].value.startswith(f"Projected **tiny #{row}** after 50 steps")
    assert at.selectbox(key="explore_ph_pick").options == ["tiny #3", "tiny #9"]
    assert "Starting from your photo **tiny #9**" in at.info[0].value  # the latest
    at.selectbox(key="explore_ph_pick").set_value("tiny #3")
    at.button(key="explore_ph_use").click().run()  # shown on the Portrait tab at once
    assert "Starting from your photo **tiny #3**" in at.info[0].value
    open_tab(at, "Interpolation")
    before = next(b for b in at.get("download_button") if b.label == "Download GIF").proto.url
    at.selectbox(key="explore_int_from").set_value("tiny #3")
    at.selectbox(key="explore_int_to").set_value("tiny #9").run()
    assert not at.exception
    gif = next(b for b in at.get("download_button") if b.label == "Download GIF").proto.url
    assert gif != before


def test_export_and_upload_of_a_bundle(ws):
    at = demo_page()
    at.button(key="explore_export").click().run()
    assert not at.exception
    button = next(b for b in at.get("download_button") if b.label.startswith("Download the "
                                                                              "bundle"))
    assert "MiB" in button.label
    from dcgan.explore.bundle import demo_card, write_bundle
    from dcgan.explore.export import load_demo_directions, load_demo_generator

    demo = load_demo_generator()
    pca = (np.eye(8, 64, dtype=np.float32), np.linspace(0.2, 0.05, 8).astype(np.float32))
    data = write_bundle(demo, demo_card(demo), {"Smile": np.ones(64, np.float32)}, pca)
    at = server_rendered(AppTest.from_file(PAGE, default_timeout=180)).run()
    at.radio(key="explore_source").set_value("Upload a generator").run()
    at.file_uploader(key="explore_upload").set_value(
        [("shared.zip", data, "application/zip")]).run()
    assert not at.exception
    assert at.caption[0].value.startswith("bundle: bundled demo generator · latent size 64 · "
                                          "trained on demo-portraits (10,976 images), epoch 70")
    labels = [s.label for s in at.slider if s.key.startswith("explore_dir_")]
    assert labels[0] == "Smile"  # its named direction, then its PCA directions (no rerun)
    assert labels[1:] == [f"PC{i} ({v:.0%})" for i, v in enumerate(pca[1], 1)]
    assert set(load_demo_directions(64)).isdisjoint(labels)
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("card.json", "{}")
        zf.writestr("run.sh", "rm -rf /")
    at.file_uploader(key="explore_upload").set_value(
        [("bad.zip", bad.getvalue(), "application/zip")]).run()
    assert "unexpected members ['run.sh']" in at.error[0].value


def test_the_live_portrait_is_the_default_and_a_foreign_generator_falls_back(ws, tmp_path):
    import keras

    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception
    assert at.toggle(key="explore_live").value
    assert not [s for s in at.slider if s.key.startswith("explore_dir_")]  # in the page
    assert "seed 0 · drawn in your browser" in [c.value for c in at.caption]
    labels = {b.label for b in at.get("download_button")}
    assert {"Download PNG", "Latent .npy", "Latent .json"} <= labels  # made on the server

    z = keras.Input((16,))
    x = keras.layers.Reshape((8, 8, 4))(keras.layers.Dense(256)(z))
    x = keras.layers.UpSampling2D(8)(x)
    model = keras.Model(z, keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(x))
    model.save(tmp_path / "other.keras")
    at.radio(key="explore_source").set_value("Upload a generator").run()
    at.file_uploader(key="explore_upload").set_value(
        [("other.keras", (tmp_path / "other.keras").read_bytes(), "application/octet-stream")])
    at.run()
    assert not at.exception
    assert any(c.value.startswith("The portrait renders on the server: layer ")
               and "(UpSampling2D) is not of the DCGAN generator family" in c.value
               for c in at.caption)
    assert [s for s in at.slider if s.key.startswith("explore_dir_PC")]  # Streamlit's own


def test_a_search_still_running_stops_when_the_generator_changes(ws, finished_run):
    from dcgan.explore.export import load_demo_generator
    from dcgan.explore.projection import Projector, Settings

    at = demo_page()
    search = Projector(load_demo_generator()).search(np.asarray(render_portrait(3, 7, 64)),
                                                     Settings(steps=10_000, restarts=1))
    search.start(report_every=1)
    at.session_state["explore_search"] = {"name": "me.png", "search": search}
    assert search.running
    at.radio(key="explore_source").set_value("Training run").run()
    assert not at.exception
    assert not search.running and search.stopped and 1 <= search.step < 10_000
    assert "explore_search" not in at.session_state
