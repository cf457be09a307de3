"""AppTest of the Explore page on a tiny finished run."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dcgan.explore.export import load_demo_directions
from dcgan.runs.folder import load_directions

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "explore.py")


def server_rendered(at: AppTest) -> AppTest:
    """The page with its live portrait off: AppTest runs no JavaScript, so these tests use
    the server-rendered portrait and its Streamlit sliders (tests/e2e cover the live one)."""
    at.session_state["explore_live"] = False
    return at


def page(source: str = "Training run") -> AppTest:
    """The page with its generator source chosen (the bundled demo is the default)."""
    at = server_rendered(AppTest.from_file(PAGE, default_timeout=120)).run()
    return at.radio(key="explore_source").set_value(source).run()


def test_opens_on_the_bundled_demo(ws):
    at = server_rendered(AppTest.from_file(PAGE, default_timeout=120)).run()
    assert not at.exception
    assert at.radio(key="explore_source").value == "Bundled demo"
    assert at.caption[0].value == "bundled demo generator · latent size 64"
    assert len(at.get("image")) >= 1
    # the named directions shipped with the demo come first, then the unnamed components
    named = list(load_demo_directions(64))
    labels = [s.label for s in at.slider if s.key.startswith("explore_dir_")]
    assert named and labels[:len(named)] == named
    assert all(label.startswith("PC") for label in labels[len(named):])
    assert len(labels) == 8  # each named one replaces the component it was taken from


def open_tab(at: AppTest, name: str) -> AppTest:
    """As a click on the tab does: the page reruns with it open."""
    at.session_state["explore_tab"] = name
    return at.run()


def first_image(at) -> str:
    return at.get("image")[0].proto.imgs[0].url


def test_no_run_yet(ws):
    at = page()
    assert not at.exception
    assert "No run has a checkpoint yet" in at.info[0].value


def test_seed_and_sliders_change_the_portrait(ws, finished_run):
    at = page()
    assert not at.exception
    assert finished_run.name in at.caption[0].value
    before = first_image(at)
    at.number_input(key="explore_seed").set_value(7).run()
    after_seed = first_image(at)
    assert after_seed != before
    at.slider(key="explore_dir_PC1").set_value(3.0).run()
    assert first_image(at) != after_seed
    labels = {b.label for b in at.get("download_button")}
    assert {"Download PNG", "Latent .npy", "Latent .json"} <= labels
    # the other tabs draw their portraits (and downloads) only when open
    assert not labels & {"Download ZIP", "Download grid PNG", "Download GIF"}
    open_tab(at, "Grid")
    assert {"Download ZIP", "Download grid PNG"} <= {b.label for b in at.get("download_button")}
    assert at.number_input(key="explore_seed").value == 7  # the closed tab's widgets kept
    assert at.selectbox(key="explore_ckpt").options[0].startswith("ckpt-00002")


def test_a_tab_is_drawn_from_its_first_opening_on(ws, finished_run):
    at = page()
    keys = {w.key for w in at.number_input}
    assert "explore_seed" in keys and "explore_grid_first" not in keys  # never opened
    assert not [c for c in at.checkbox if c.key.startswith("explore_lab_")]
    open_tab(at, "Grid").number_input(key="explore_grid_first").set_value(40).run()
    assert at.get("image")[-1].proto.imgs[0].caption == "seeds 40-55"
    open_tab(at, "Portrait")
    assert at.number_input(key="explore_grid_first").value == 40  # kept while closed
    assert "Download ZIP" not in {b.label for b in at.get("download_button")}
    open_tab(at, "Grid")
    assert at.get("image")[-1].proto.imgs[0].caption == "seeds 40-55"


def test_portrait_first_then_pca_kept_on_disk_for_the_next_server(ws, finished_run,
                                                                 monkeypatch):
    import streamlit as st

    from dcgan.explore import export, latent

    events = []
    real_images, real_pca = export.RunGenerator.images, latent.pca_directions

    def images(self, z):
        events.append("portrait" if len(z) == 1 else "images")
        return real_images(self, z)

    def pca(*args, **kwargs):
        events.append("pca")
        return real_pca(*args, **kwargs)

    monkeypatch.setattr(export.RunGenerator, "images", images)
    monkeypatch.setattr(latent, "pca_directions", pca)
    def run_page() -> AppTest:  # straight to the run: the demo is not opened first
        at = server_rendered(AppTest.from_file(PAGE, default_timeout=120))
        at.session_state["explore_source"] = "Training run"
        return at.run()

    st.cache_resource.clear()
    at = run_page()
    assert not at.exception
    assert events.index("portrait") < events.index("pca") and events.count("pca") == 1
    assert [s.key for s in at.slider if s.key.startswith("explore_dir_PC")]  # after the rerun
    assert len(list(ws.pca_dir.glob("*.npz"))) == 1
    st.cache_resource.clear()  # a restarted server: the directions come from disk
    events.clear()
    at = run_page()
    assert not at.exception and "pca" not in events
    assert len([s for s in at.slider if s.key.startswith("explore_dir_PC")]) == 8


def test_label_a_direction_saves_it_with_the_run(ws, finished_run):
    at = open_tab(page(), "Label a direction")
    for seed in (1000, 1001, 1002, 1003):
        at.checkbox(key=f"explore_lab_{seed}").check()
    at.text_input(key="explore_lab_name").set_value("left-side")
    at.button(key="explore_lab_fit").click().run()
    assert not at.exception
    saved = load_directions(finished_run)
    assert list(saved) == ["left-side"] and len(saved["left-side"]) == 16
    assert "Saved direction **left-side**" in at.success[0].value
    assert at.slider(key="explore_dir_left-side").label == "left-side"


def test_fit_without_labels_is_explained(ws, finished_run):
    at = open_tab(page(), "Label a direction")
    at.button(key="explore_lab_fit").click().run()
    assert not at.exception
    assert "label at least one sample" in at.error[0].value


def test_upload_of_a_bad_file_is_refused(ws):
    at = page("Upload a generator")
    at.file_uploader(key="explore_upload").set_value(
        [("gen.keras", b"not a model", "application/octet-stream")]).run()
    assert not at.exception
    assert "not a loadable Keras model" in at.error[0].value


def test_interpolation_can_end_at_the_current_portrait(ws, finished_run):
    at = page()
    assert not [b for b in at.get("download_button") if b.label == "Download GIF"]  # closed
    open_tab(at, "Interpolation")
    before = [b for b in at.get("download_button") if b.label == "Download GIF"]
    at.checkbox(key="explore_int_current").check()
    at.number_input(key="explore_cut").set_value(1.0).run()
    assert not at.exception
    gif = next(b for b in at.get("download_button") if b.label == "Download GIF")
    assert before and gif.proto.url != before[0].proto.url


def test_memorisation_check_shows_the_nearest_training_images(ws, finished_run):
    at = page()
    assert at.selectbox(key="explore_nn_dataset").value == "tiny"  # the run's dataset
    images_before = len(at.get("image"))
    at.button(key="explore_nn_go").click().run()
    assert not at.exception
    assert len(at.get("image")) == images_before + 6
    captions = [i.caption for img in at.get("image") for i in img.proto.imgs
                if " · RMS " in i.caption]
    assert len(captions) == 6 and all(c.startswith("#") for c in captions)
    distances = [float(c.rsplit(" ", 1)[1]) for c in captions]
    assert distances == sorted(distances) and distances[0] > 0
    assert f"Nearest here: {distances[0]:.1f}." in " ".join(c.value for c in at.caption)
    at.number_input(key="explore_seed").set_value(5).run()  # a new portrait: results cleared
    assert len(at.get("image")) == images_before
