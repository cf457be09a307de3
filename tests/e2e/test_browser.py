"""Real-browser flows: Chromium drives `streamlit run app.py` the way a person would."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from dcgan.testing import file_input, settle
from tests.conftest import image_bytes
from tests.e2e.conftest import shot


def visible(locator):
    return locator.filter(visible=True).first


def app_button(page, name: str):
    """A button of the app itself: Streamlit's own status widget has a "Stop" while a script
    runs, so the page's buttons are looked up inside the main block."""
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name)


def download(page, tab: str, button: str, folder):
    """Open `tab`, click the download `button`, save the file; returns its path."""
    page.get_by_role("tab", name=tab).click()
    settle(page)
    with page.expect_download() as info:
        visible(page.get_by_role("button", name=button)).click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def _live_ready(page):
    page.locator("canvas.portrait").first.wait_for(timeout=120_000)
    # ready once the forward passes were timed and the fastest chosen, and the element on
    # the page now has drawn: a tab opened again mounts a new one, while `dcganLive` (global)
    # may still be the previous element's
    page.wait_for_function("() => window.dcganLive?.chosen", timeout=60_000)
    page.locator(".live[data-frames]").first.wait_for(timeout=60_000)


def wait_for_redraw(page, live, frames: int) -> None:
    """Until the live portrait has drawn more than `frames` frames, then half a second for
    the amounts to reach the server (the page reports them on release)."""
    for _ in range(100):
        if int(live.get_attribute("data-frames")) > frames:
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError("the live portrait did not redraw after the key press")
    page.wait_for_timeout(500)


def set_number(page, label: str, value) -> None:
    field = visible(page.get_by_label(label, exact=True))
    field.fill(str(value))
    field.press("Enter")
    settle(page)


def create_synthetic(page, base: str, name: str, count: int = 64) -> None:
    """The Dataset page's built-in synthetic portraits, `count` of them named `name`."""
    page.goto(f"{base}/dataset")
    settle(page)
    field = visible(page.get_by_label("Name", exact=True))
    field.fill(name)
    field.press("Enter")
    set_number(page, "Portraits", count)
    page.get_by_role("button", name="Create the synthetic portraits").click()
    page.get_by_text(f"{count} portraits created and prepared").wait_for(timeout=120_000)
    settle(page)


def fill_tiny_run(page, base: str, epochs: int, quality_every: int) -> None:
    """The Train page's form for a tiny real run (8 filters, 2 steps an epoch)."""
    page.goto(f"{base}/train")
    settle(page)
    for label, value in (("Epochs", epochs), ("Batch size", 8),
                         ("Steps per epoch (0 = all data)", 2),
                         ("Checkpoint every (epochs)", 5)):
        set_number(page, label, value)
    page.get_by_text("Model and optimisation").click()
    set_number(page, "G filters (last stage)", 8)
    set_number(page, "D filters (first stage)", 8)
    set_number(page, "Quality check every (epochs, 0 = off)", quality_every)


def test_home_page(app_server, page):
    base, _ = app_server
    page.goto(base)
    settle(page)
    page.get_by_role("heading", name="DCGAN Portrait Studio").first.wait_for()
    # the device metric: waited for, as settle() can return before the first run starts
    page.get_by_text(re.compile(r"CPU \(|NVIDIA")).first.wait_for(timeout=60_000)
    shot(page, "home")


def test_dataset_then_train_stop_resume(app_server, page, tmp_path):
    base, home = app_server
    # 1. The built-in synthetic portraits from the Dataset page.
    create_synthetic(page, base, "e2e-faces")

    # 2. A zip with one corrupt file: imported, and the bad file reported.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(4):
            zf.writestr(f"me/{i}.png", image_bytes(i))
        zf.writestr("me/corrupt.jpg", b"\xff\xd8\xff this is not really a jpeg")
    upload = tmp_path / "my-photos.zip"
    upload.write_bytes(buf.getvalue())
    page.get_by_role("tab", name="Upload images or a zip").click()
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(upload))
    settle(page)
    visible(page.get_by_role("button", name="Import upload")).click()
    page.get_by_text("4 imported, 1 skipped (1 not-an-image)").wait_for(timeout=60_000)
    settle(page)
    page.get_by_text("Skipped files (1) and why").click()
    page.get_by_text("Skipped files (1) and why").wait_for()
    shot(page, "dataset")

    # 3. A tiny real training run from the Train page.
    fill_tiny_run(page, base, 400, quality_every=1)
    page.get_by_role("button", name="Start").dblclick()  # a double click starts one job
    page.locator("[data-testid='stPlotlyChart']").first.wait_for(timeout=120_000)
    page.get_by_text("Fixed noise, epoch").first.wait_for(timeout=120_000)
    page.get_by_text("Quality at epoch").first.wait_for(timeout=120_000)
    page.get_by_text("Quality: SWD x1e3 and colour distance (lower is better)").first.wait_for(
        timeout=30_000)
    runs = sorted((home / "GAN_MODEL").glob("0*"))
    assert [r.name for r in runs] == ["00001-e2e-faces-studio"]
    run = runs[0]
    pid = json.loads((run / "status.json").read_text())["pid"]
    shot(page, "train")
    page.get_by_text("New run").first.click()  # collapsed while a job runs
    assert page.get_by_role("button", name="Start").is_disabled()  # without a reload
    # The All runs table follows the job: running, at the epoch the dashboard shows.
    table = page.get_by_test_id("stTable")
    table.get_by_text("running").wait_for(timeout=30_000)
    # It refreshes every 5 s, so it may skip an epoch: wait for any later one than now.
    epoch = json.loads((run / "status.json").read_text())["epoch"]
    page.wait_for_function(
        """e => [...document.querySelectorAll("[data-testid='stTable'] td")]
                 .some(td => /^\\d+\\/400$/.test(td.textContent.trim())
                             && parseInt(td.textContent) > e)""",
        arg=epoch, timeout=120_000)

    # 4. Reload: the page re-attaches to the same job; no second job was started.
    page.reload()
    settle(page)
    shot(page, "train-reloaded")
    attached = page.get_by_role("combobox", name="Run", exact=True).input_value()
    assert attached.startswith("00001-e2e-faces-studio")
    page.get_by_text("running · epoch").first.wait_for(timeout=30_000)
    assert len(list((home / "GAN_MODEL").glob("0*"))) == 1
    assert json.loads((run / "status.json").read_text())["pid"] == pid

    # 5. Stop, then Resume at once: Resume is enabled only when the job has let go of the
    # run (Playwright's click waits for that), and then it is never dropped.
    from dcgan.runs.jobs import job_alive

    app_button(page, "Stop").click()
    app_button(page, "Resume").click(timeout=60_000)
    page.get_by_text("running ·").first.wait_for(timeout=60_000)
    status = json.loads((run / "status.json").read_text())
    assert status["pid"] != pid and status["resumed_from"].startswith("ckpt-")
    pid = status["pid"]
    app_button(page, "Stop").click()
    page.get_by_text("stopped ·").first.wait_for(timeout=60_000)
    assert not job_alive(run)  # "stopped" is shown only once the job has exited
    assert json.loads((run / "status.json").read_text())["state"] == "stopped"
    table.get_by_text("stopped").wait_for(timeout=30_000)
    settle(page)
    app_button(page, "Resume").click()
    page.get_by_text("running ·").first.wait_for(timeout=60_000)
    status = json.loads((run / "status.json").read_text())
    assert status["pid"] != pid and status["resumed_from"].startswith("ckpt-")
    app_button(page, "Stop").click()
    page.get_by_text("stopped ·").first.wait_for(timeout=60_000)


def _train_tiny_run(home) -> None:
    import os
    import subprocess
    import sys

    from tests.e2e.conftest import ROOT

    env = {**os.environ, "DCGAN_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    for args in (["synth", "--name", "tiny", "--count", "32", "--size", "64", "--workers", "1"],
                 ["prepare", "tiny", "--workers", "1"],
                 ["train", "--dataset", "tiny", "--batch-size", "8", "--g-filters", "8",
                  "--d-filters", "8", "--latent-dim", "16", "--epochs", "2",
                  "--steps-per-epoch", "2", "--checkpoint-every", "1", "--no-progress"]):
        out = subprocess.run([sys.executable, "-m", "dcgan", *args], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]


def test_explore_slider_interpolation_and_downloads(app_server, page, tmp_path):
    from PIL import Image

    base, home = app_server
    _train_tiny_run(home)
    page.goto(f"{base}/explore")
    settle(page, timeout=120_000)
    page.get_by_text("Live portrait (runs in your browser)").click()  # server rendering
    settle(page)
    portrait = page.locator("[data-testid='stImage'] img").first
    portrait.wait_for(timeout=120_000)
    before = portrait.get_attribute("src")
    thumb = page.get_by_role("slider").filter(visible=True).nth(1)  # after truncation: PC1
    thumb.focus()
    for _ in range(10):
        thumb.press("ArrowRight")
    settle(page)
    page.wait_for_function(
        "before => document.querySelector(\"[data-testid='stImage'] img\").src !== before",
        arg=before, timeout=30_000)
    shot(page, "explore-run")

    gif = download(page, "Interpolation", "Download GIF", tmp_path)
    assert gif.name == "interpolation_slerp_0-1_24.gif"
    with Image.open(gif) as anim:
        assert anim.size == (256, 256) and anim.n_frames > 1
        total = 0
        for i in range(anim.n_frames):  # Pillow merges identical frames: count their time
            anim.seek(i)
            total += anim.info["duration"]
        # 24 frames there and 22 back, at 83 ms each (GIF stores centiseconds)
        assert abs(total - (24 + 22) * 83) <= (24 + 22) * 5

    archive = download(page, "Grid", "Download ZIP", tmp_path)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert len(names) == 17 and names[0] == "portrait_seed000000.png"
        with Image.open(io.BytesIO(zf.read(names[0]))) as first:
            assert first.size == (256, 256)


def test_fresh_workspace_explores_the_demo(app_server, page):
    base, home = app_server
    page.goto(base)
    settle(page)
    page.get_by_role("button", name="Explore the demo generator").click()
    settle(page, timeout=120_000)
    page.get_by_text("bundled demo generator · latent size").wait_for(timeout=120_000)
    _live_ready(page)  # the live portrait, drawn in the page
    assert page.locator("canvas.portrait").first.evaluate("c => c.width") == 512
    assert not list((home / "GAN_MODEL").glob("0*"))  # no training was needed
    # it opens with the demo's named sliders (assets/demo/directions.json) first
    from dcgan.explore.export import DEMO_DIRECTIONS

    first = next(iter(json.loads(DEMO_DIRECTIONS.read_text())))
    sliders = page.locator(".live label")
    sliders.filter(has_text=first).first.wait_for()
    # the PCA's sliders come a moment after the portrait (computed at the page's end)
    sliders.filter(has_text="PC").first.wait_for(timeout=60_000)
    labels = [t.strip() for t in page.locator(".live label span").all_inner_texts()]
    assert first in labels and labels.index(first) < labels.index(
        next(t for t in labels if t.startswith("PC")))
    shot(page, "explore")


def test_explore_projects_a_photo_then_edits_and_downloads_it(app_server, page, tmp_path):
    from PIL import Image

    from dcgan.data.synthetic import render_portrait

    base, _ = app_server
    photo = tmp_path / "me.png"
    render_portrait(5, 11, 180).save(photo)
    page.goto(f"{base}/explore")
    settle(page, timeout=120_000)
    page.get_by_text("bundled demo generator · latent size").wait_for(timeout=120_000)
    page.get_by_role("tab", name="Your photo").click()
    panel = page.get_by_role("tabpanel").filter(visible=True)
    project = app_button(page, "Project")
    assert project.is_disabled()  # no photo yet
    panel.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(photo))
    settle(page)
    steps = panel.get_by_role("slider").first  # Steps: at most (1000) so that Stop has time
    steps.focus()
    steps.press("End")
    settle(page)
    assert not project.is_disabled()
    project.click()
    page.get_by_text(re.compile(r"Step \d+ of 1000")).wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"Step [1-9]\d+ of 1000")).wait_for(timeout=60_000)
    shot(page, "explore-photo")
    app_button(page, "Stop").click()
    flash = page.get_by_text(re.compile(r"Stopped me\.png after \d+ steps"))
    flash.wait_for(timeout=60_000)
    done = int(re.search(r"after (\d+) steps", flash.inner_text()).group(1))
    assert 10 <= done < 1000
    settle(page)

    # The Portrait tab starts from it: a slider edits it, the download is named after it.
    page.get_by_role("tab", name="Portrait").click()
    page.get_by_text("Starting from your photo me.png").wait_for(timeout=30_000)
    _live_ready(page)
    live = page.locator(".live").first
    frames = int(live.get_attribute("data-frames"))
    thumb = page.locator(".live input[type=range]").first
    thumb.focus()
    for _ in range(10):
        thumb.press("ArrowRight")
    wait_for_redraw(page, live, frames)
    settle(page)
    assert page.get_by_text("Starting from your photo me.png").is_visible()
    png = download(page, "Portrait", "Download PNG", tmp_path)
    assert png.name == "portrait_photo-me_512.png"
    with Image.open(png) as image:
        assert image.size == (512, 512)


def test_live_portrait_draws_the_servers_pixels_and_follows_its_sliders(app_server, page,
                                                                       tmp_path):
    import numpy as np

    from dcgan.explore.export import load_demo_directions, load_demo_generator
    from dcgan.explore.latent import z_from_seed

    base, _ = app_server
    page.goto(f"{base}/explore")
    settle(page, timeout=120_000)
    _live_ready(page)
    demo = load_demo_generator()
    named = np.stack(list(load_demo_directions(64).values()))
    rng = np.random.default_rng(16)
    z = np.stack([z_from_seed(s, 64) + rng.uniform(-3, 3, len(named)) @ named
                  for s in range(32)]).astype(np.float32)
    server = demo.images(z).astype(np.int16)
    # Chromium here has WebAssembly SIMD and WebGL2 (SwiftShader, software): the page timed
    # both and took the faster; every path, the plain JavaScript one too, must draw the
    # server's pixels.
    timings = page.evaluate("() => window.dcganLive.timings")
    assert set(timings) == {"wasm", "webgl2"}
    faster = "webgl2" if timings["webgl2"] < timings["wasm"] else "wasm"
    assert page.evaluate("() => window.dcganLive.mode") == faster
    page.get_by_text(re.compile(r"drawn in your browser \((WebAssembly SIMD|WebGL2)\)")) \
        .wait_for(timeout=30_000)  # the page's report of its path reached the server
    for path in ("pixels", "wasmPixels", "cpuPixels", "glPixels"):
        rgba = np.asarray(page.evaluate(f"zs => zs.map(z => window.dcganLive.{path}(z))",
                                        z.tolist()), np.int16).reshape(32, 64, 64, 4)
        assert np.abs(rgba[..., :3] - server).max() <= 2, path  # per channel, of 255
        assert (rgba[..., 3] == 255).all()

    # A slider of the component: the keyboard moves it, the page redraws, and the server
    # learns the amount (the downloaded latent is the seed's plus 3 x the first direction).
    live = page.locator(".live").first  # inside the component's shadow root
    frames = int(live.get_attribute("data-frames"))
    first = page.get_by_role("slider", name=next(iter(load_demo_directions(64))), exact=True)
    first.focus()
    first.press("End")  # to +3.0
    wait_for_redraw(page, live, frames)
    settle(page)
    saved = download(page, "Portrait", "Latent .json", tmp_path)
    expected = z_from_seed(0, 64) + 3.0 * named[0]
    assert np.allclose(json.loads(saved.read_text())["z"][0], expected, atol=1e-5)
    shot(page, "explore-live")


def test_the_live_portrait_runs_an_uploaded_generator_of_another_shape(app_server, page,
                                                                       tmp_path):
    import numpy as np

    from dcgan.explore.export import load_generator_file
    from tests.conftest import odd_generator

    upload = tmp_path / "odd.keras"
    odd_generator().save(upload)  # odd kernels and channel counts, 'valid' padding, sigmoid
    base, _ = app_server
    page.goto(f"{base}/explore")
    settle(page, timeout=120_000)
    _live_ready(page)
    demo = page.evaluate("() => window.dcganLive.digest")
    page.get_by_role("radiogroup", name="Generator").get_by_text("Upload a generator").click()
    settle(page)
    file_input(page, "Generator: a bundle").set_input_files(str(upload))
    page.get_by_text("upload: odd.keras").first.wait_for(timeout=120_000)
    page.wait_for_function("d => window.dcganLive?.digest !== d && window.dcganLive.chosen",
                           arg=demo, timeout=60_000)
    z = np.random.default_rng(3).normal(size=(8, 10)).astype(np.float32)
    server = load_generator_file(upload.read_bytes(), "odd.keras").images(z).astype(np.int16)
    for path in ("pixels", "wasmPixels", "cpuPixels", "glPixels"):
        rgba = np.asarray(page.evaluate(f"zs => zs.map(z => window.dcganLive.{path}(z))",
                                        z.tolist()), np.int16).reshape(8, 64, 64, 4)
        assert np.abs(rgba[..., :3] - server).max() <= 2, path


@pytest.mark.parametrize("app_env", [{"DCGAN_LIVE_MAX_FRAME_MS": "0.001"}])
def test_a_browser_too_slow_for_the_live_portrait_falls_back_to_the_server(app_server, page):
    base, _ = app_server
    page.goto(f"{base}/explore")
    settle(page, timeout=120_000)
    page.get_by_text(re.compile(r"The portrait renders on the server: your browser took "
                                r"\d+ ms per portrait")).wait_for(timeout=60_000)
    portrait = page.locator("[data-testid='stImage'] img").first
    portrait.wait_for()
    assert portrait.evaluate("img => img.naturalWidth") == 512


def test_a_zip_of_everyday_photos_becomes_aligned_faces(app_server, page, tmp_path):
    """A selfie, a tilted one, a group shot of two, a distant face and a photo of no one:
    one aligned face per visible face, every other file listed with its reason."""
    from PIL import Image

    from tests.conftest import astronaut
    from tests.conftest import jpeg_bytes as jpeg

    base, home = app_server
    face = astronaut()
    group = Image.new("RGB", (760, 420), (70, 90, 110))
    group.paste(face, (40, 80))
    group.paste(face.resize((200, 200)), (480, 120))
    far = Image.new("RGB", (640, 480), (150, 160, 120))
    far.paste(face.resize((40, 40)), (300, 200))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("phone/selfie.jpg", jpeg(face))
        zf.writestr("phone/tilted.jpg", jpeg(face.rotate(25, expand=True,
                                                         fillcolor=(200, 200, 200))))
        zf.writestr("phone/group.jpg", jpeg(group))
        zf.writestr("phone/far-away.jpg", jpeg(far))
        zf.writestr("phone/sunset.png", image_bytes(3, size=(400, 300)))
        zf.writestr("phone/notes.txt", "not a photo")
    upload = tmp_path / "phone.zip"
    upload.write_bytes(buf.getvalue())
    page.goto(f"{base}/dataset")
    settle(page)
    page.get_by_role("tab", name="Upload images or a zip").click()
    file_input(page, "Images (JPEG").set_input_files(str(upload))
    settle(page)
    name = visible(page.get_by_label("Name", exact=True))
    name.fill("phone")
    name.press("Enter")
    settle(page)
    visible(page.get_by_role("button", name="Import upload")).click()
    page.get_by_text("5 imported").wait_for(timeout=60_000)
    settle(page)
    app_button(page, "Prepare the 64x64 cache").click()  # faces, without asking
    page.get_by_text("phone: 4 images ready (faces)").wait_for(timeout=120_000)
    settle(page)
    page.get_by_text("Photos and faces not used (2) and why").click()
    for reason in ("face-too-small", "no-face"):  # cells of the table (drawn on a canvas)
        page.get_by_text(reason).first.wait_for(state="attached")
    page.get_by_text("The first photos with the faces found").wait_for()
    shot(page, "dataset-faces")
    manifest = json.loads((home / "DATA/DATA_SCALE/phone/manifest.json").read_text())
    faces = [e["face"] for e in manifest["images"]]  # selfie, tilted, the group's two
    assert manifest["count"] == 4 and sorted(faces) == [0, 0, 0, 1]
    assert sorted(s["reason"] for s in manifest["skipped"]) == ["face-too-small", "no-face"]
