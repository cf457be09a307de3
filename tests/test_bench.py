"""The benchmark code itself (quick mode, into a temporary folder); timings are not asserted."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_chromium

ROOT = Path(__file__).resolve().parents[1]


def quick_bench(out_dir: Path, *args: str, timeout: int = 900) -> None:
    """`python -m bench --quick ARGS --out-dir OUT_DIR`, asserted to succeed. In a session
    of its own: the class bench lowers its session's CPU priority for a while."""
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", *args,
                          "--out-dir", str(out_dir)], cwd=ROOT, capture_output=True,
                         text=True, timeout=timeout, start_new_session=True)
    assert out.returncode == 0, out.stderr[-3000:]


def test_quick_prepare_bench_writes_markdown_and_results(tmp_path):
    (tmp_path / "BENCHMARKS.md").write_text("# Benchmarks\n\nintro kept\n")
    quick_bench(tmp_path, "--only", "prepare", timeout=600)
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "intro kept" in text and "<!-- bench:prepare -->" in text
    assert "naive loop" in text and "images/s" in text
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    names = {r["name"] for r in results}
    assert {"prepare.prepare_img_per_s", "prepare.naive_img_per_s",
            "prepare.speedup_vs_naive", "prepare.pipeline_img_per_s"} <= names
    assert all(r["value"] > 0 and r["unit"] and r["machine"] and r["date"] for r in results)


def test_quick_train_bench_writes_its_figures(tmp_path):
    quick_bench(tmp_path, "--only", "train")
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "<!-- bench:train -->" in text and "| `studio` |" in text
    results = {r["name"]: r for r in json.loads((tmp_path / "bench/results.json").read_text())}
    for name in ("matmul_peak_gflops", "matmul_peak_bf16_gflops", "demo_step_img_per_s",
                 "demo_step_img_per_s_bf16", "studio_step_pct_of_peak_bf16",
                 "studio_step_img_per_s", "studio_over_demo_img_per_s",
                 "studio_end_to_end_img_per_s_today", "studio_end_to_end_img_per_s_default",
                 "tiny_steps_per_s_k1", "tiny_steps_per_s_auto_k", "evaluation_seconds_after",
                 "peak_rss_mb_300_images"):
        assert results[f"train.{name}"]["value"] > 0
    # quick mode traces the default preset and demo (its ratio's base) only
    assert not any(n.startswith(("train.ml241_", "train.dcgan_", "train.wgan-gp_"))
                   for n in results)
    assert "images: " in text and "(in memory (" in text  # where each RSS run's images were


def test_quick_gpu_and_precision_benches_run_on_the_cpu(tmp_path):
    quick_bench(tmp_path, "--only", "gpu", "precision")
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "<!-- bench:gpu -->" in text and "no GPU (CPU)" in text
    assert "<!-- bench:precision -->" in text
    results = {r["name"]: r["value"] for r in json.loads(
        (tmp_path / "bench/results.json").read_text())}
    for option in ("today", "bf16", "xla", "auto_k", "in_memory", "all_auto"):
        assert results[f"gpu.ml241_{option}_img_per_s"] > 0  # quick: the first preset only
    assert results["precision.bf16_img_per_s"] > 0 and results["precision.float32_img_per_s"] > 0
    assert (tmp_path / "docs/images/quality/precision-bf16.png").is_file()


def test_quick_explore_bench(tmp_path):
    quick_bench(tmp_path, "--only", "explore", timeout=600)
    results = {r["name"]: r["value"] for r in
               json.loads((tmp_path / "bench/results.json").read_text())}
    assert results["explore.portrait_ms"] > 0 and results["explore.grid64_ms"] > 0
    assert results["explore.matmul_peak_gflops"] > 0
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| one portrait" in text and "of this run's float32 matmul peak" in text
    require_chromium()  # for the browser half
    # the live portrait in Chromium: drawn, keys and drags followed, the dcgan preset decided
    assert results["explore.browser_round_trip_ms"] > 0 and results["explore.live_key_ms"] > 0
    assert results["explore.live_first_frame_ms"] > 0 and results["explore.live_drag_fps"] > 0
    assert results["explore.live_dcgan_fallback"] in (0.0, 1.0)
    assert results["explore.live_dcgan_frame_ms"] > 0
    assert "median of 2 | **" in text  # quick mode's counts, said


def test_quick_dashboard_bench_times_train_tabs_and_explore_in_chromium(tmp_path):
    require_chromium()
    quick_bench(tmp_path, "--only", "dashboard", timeout=600)
    results = {r["name"]: r["value"] for r in
               json.loads((tmp_path / "bench/results.json").read_text())}
    for tabs in (0, 1, 2):
        assert results[f"dashboard.img_per_s_{tabs}_tabs"] > 0
    assert results["dashboard.chromium_cpu_s_per_min_2_tabs"] > 0  # two tabs drew something
    # Explore's live portrait of the demo, then of the training run, then its PCA sliders
    assert 0 < results["dashboard.explore_run_portrait_s"] \
        <= results["dashboard.explore_run_sliders_s"]
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "<!-- bench:dashboard -->" in text and "| 2 |" in text


def test_quick_quality_bench_scores_at_equal_time_and_images(tmp_path):
    """The real training and scoring of every default contender, on the data10k scenario;
    the small scenario differs only in the rows it trains on and its goals, which the
    stand-in run below checks."""
    quick_bench(tmp_path, "--only", "quality", "--scenarios", "data10k")
    text = (tmp_path / "BENCHMARKS.md").read_text()
    results = {r["name"]: r["value"] for r in
               json.loads((tmp_path / "bench/results.json").read_text())}
    for section, scenario in (("quality", "data10k"),):
        body = text.split(f"<!-- bench:{section} -->")[1].split(f"<!-- /bench:{section} -->")[0]
        assert f"Scenario **{scenario}**" in body and "Real-vs-real floors: SWD" in body
        for label in ("studio", "demo", "radford"):
            assert f"| {label} |" in body
            assert (tmp_path / "docs/images/quality" / f"{scenario}-{label}.png").is_file()
        assert "| @ 1 s | @ 2 s | nearest train image |" in body
        assert "| contender | @ 16 img | @ 32 img |" in body  # equal images trained
        assert "Default preset (`studio`) over the others, SWD at the end: demo " in body
        assert "Goals for the default preset: " in body and "within 0.05 of real" in body
        for label in ("studio", "radford"):
            key = f"{section}.{label}"
            assert results[f"{key}_img_per_s"] > 0 and 0 < results[f"{key}_pct_of_peak"] < 150
            assert results[f"{key}_swd_at_2s"] > results[f"{section}.swd_floor"] > 0
            assert results[f"{key}_color_at_2s"] > 0 and results[f"{key}_swd_at_16img"] > 0
            assert 0 <= results[f"{key}_ms_ssim_final"] <= 1
            assert results[f"{key}_ms_ssim_at_2s"] == results[f"{key}_ms_ssim_final"]
            assert results[f"{key}_nearest_fake"] > 0
        ratio = results[f"{section}.studio_swd_at_2s"] / results[f"{section}.radford_swd_at_2s"]
        assert abs(results[f"{section}.studio_vs_radford_swd_ratio_final"] - ratio) < 1e-3
        assert results[f"{section}.color_dist_floor"] > 0 and results[f"{section}.nearest_real"] > 0
    assert "SWD <= 3x the floor" in text and "<!-- bench:quality-small -->" not in text
    for stem in ("time_to_quality",):
        chart = next((tmp_path / "docs" / "images").glob(f"{stem}.*"))
        assert chart.stat().st_size > 1000 and f"]({chart.relative_to(tmp_path)})" in text


def test_references_build_the_published_shapes():
    import numpy as np

    from bench.references import keras_io_faces, radford

    def trainable(model) -> int:
        return sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    images = np.zeros((16, 64, 64, 3), np.uint8)
    # Radford: the PyTorch DCGAN tutorial's parameter counts (3,576,704 and 2,765,568).
    # keras-io: Dense 128->8x8x128 + ConvT 128/256/512 + Conv 5x5 to 3 = 3,979,651; D: three
    # 4x4 convs 64/128/128 + Dense 8192->1 = 404,801.
    for module, latent, g_params, d_params in ((keras_io_faces, 128, 3_979_651, 404_801),
                                               (radford, 100, 3_576_704, 2_765_568)):
        ref = module.build(images, batch_size=4)
        assert ref.latent_dim == latent
        assert (trainable(ref.generator), trainable(ref.discriminator)) == (g_params, d_params)
        assert ref.sample(np.zeros((2, latent), np.float32)).shape == (2, 64, 64, 3)
        assert ref.flops_per_image > 0
        d_loss, g_loss = ref.step()
        assert np.isfinite(float(d_loss)) and np.isfinite(float(g_loss))


def test_quality_bench_subset_scenario_and_seed(tmp_path, monkeypatch):
    """Choosing contenders, a scenario and a seed: the selection and the report, with stand-in
    contenders (a step that sleeps, samples drawn from the data) so no network is traced;
    the real training and scoring are the quick run's above."""
    import time

    import numpy as np
    import pytest

    from bench import quality_bench

    with pytest.raises(ValueError, match="must include the default preset studio"):
        quality_bench.run(quick=True, out_dir=tmp_path, contenders=["demo", "radford"])
    with pytest.raises(ValueError, match="unknown contenders: nope"):
        quality_bench.run(quick=True, out_dir=tmp_path, contenders=["studio", "nope"])
    seeds = []

    def stand_in(name, cache, rows, batch_size, seed=0, overrides=None):
        seeds.append(seed)
        images = np.load(cache, mmap_mode="r")
        return quality_bench.Contender(
            name, "preset", 8, 8, lambda: time.sleep(0.01),
            lambda z: np.asarray(images[:len(z)]), 1e6)

    monkeypatch.setattr(quality_bench, "preset_contender", stand_in)
    monkeypatch.setattr(quality_bench, "chromium_available", lambda: False)
    quality_bench.run(quick=True, out_dir=tmp_path, contenders=["studio", "ml241"], seed=3,
                      scenarios=["small"])
    assert seeds == [3, 3]
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "<!-- bench:quality-small -->" in text and "<!-- bench:quality -->" not in text
    assert "(training seed 3;" in text and "| studio |" in text and "| ml241 |" in text
    assert "| demo |" not in text and "<= 0.6x demo" not in text
    assert "16 training images (a fixed random subset)" in text
    assert "samples no nearer to training images than held-out real images" in text
    assert (tmp_path / "docs/images/time_to_quality_small.html").is_file()
    names = {r["name"] for r in json.loads((tmp_path / "bench/results.json").read_text())}
    assert "quality-small.studio_vs_ml241_swd_ratio_final" in names
    assert not any(n.startswith("quality-small.demo_") for n in names)


def test_contender_specs_name_a_preset_with_changed_settings():
    import pytest

    from bench.quality_bench import parse_contender

    assert parse_contender("studio") == ("studio", "studio", {})
    assert parse_contender("tuned=studio:d_mbstd=4,g-lr=1e-4") == (
        "tuned", "studio", {"d_mbstd": "4", "g_lr": "1e-4"})
    assert parse_contender("studio:augment_policy=color") == (
        "studio:augment_policy=color", "studio", {"augment_policy": "color"})
    assert parse_contender("c=studio:augment_policy=color,translation,g_lr=1e-4")[2] == {
        "augment_policy": "color,translation", "g_lr": "1e-4"}
    with pytest.raises(ValueError, match="unknown contenders: nope"):
        parse_contender("x=nope:g_lr=1")
    with pytest.raises(ValueError, match="'g_lr' is not field=value"):
        parse_contender("studio:g_lr")
    with pytest.raises(ValueError, match="a reference takes no settings"):
        parse_contender("radford:g_lr=1")


def test_quality_bench_on_a_prepared_dataset_and_a_subset_of_it(tmp_path, monkeypatch, ws,
                                                                  tiny_dataset):
    """--dataset NAME --train-images N: that cache, its own section, the subset's rows only,
    the changed settings handed to the preset; stand-in contenders as above."""
    import numpy as np
    import pytest

    from bench import quality_bench

    seen = []

    def stand_in(name, cache, rows, batch_size, seed=0, overrides=None):
        seen.append((name, len(rows), overrides))
        images = np.load(cache, mmap_mode="r")
        return quality_bench.Contender(name, "preset", 8, 8, lambda: None,
                                       lambda z: np.asarray(images[:len(z)]), 1e6)

    monkeypatch.setattr(quality_bench, "preset_contender", stand_in)
    monkeypatch.setattr(quality_bench, "chromium_available", lambda: False)
    from dcgan.errors import DatasetError

    with pytest.raises(DatasetError, match=r"'nothing' is not prepared.*dcgan prepare nothing"):
        quality_bench.run(quick=True, out_dir=tmp_path, dataset="nothing")
    # the report names how the cache was made: mark this one as a face crop
    manifest = ws.cache_dir(tiny_dataset) / "manifest.json"
    made = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**made, "settings": {**made["settings"], "crop": "face"}}))
    quality_bench.run(quick=True, out_dir=tmp_path, dataset=tiny_dataset, train_images=12,
                      contenders=["studio", "wide=studio:g_filters=96"])
    assert seen == [("studio", 12, {}), ("studio", 12, {"g_filters": "96"})]
    text = (tmp_path / "BENCHMARKS.md").read_text()
    body = text.split("<!-- bench:quality-tiny-12 -->")[1]
    assert "the prepared dataset `tiny` (face crop), a fixed random subset of 12" in body
    assert "| wide |" in body and "colour distance <= 2x its floor" in body
    assert "Changed settings: `wide` = `studio` with g_filters=96." in body
    assert (tmp_path / "docs/images/quality/quality-tiny-12-wide.png").is_file()
    assert "Default preset (`studio`) over the others, SWD at the end: wide " in body
    # the default alone (a small-data run): no comparison line with nobody to compare
    quality_bench.run(quick=True, out_dir=tmp_path, dataset=tiny_dataset, train_images=10,
                      contenders=["studio"])
    body = (tmp_path / "BENCHMARKS.md").read_text().split("<!-- bench:quality-tiny-10 -->")[1]
    assert "| studio |" in body and "over the others" not in body.split("<!-- /bench")[0]


def test_quick_class_bench_signs_students_in_and_times_their_pages(tmp_path):
    require_chromium()
    quick_bench(tmp_path, "--only", "class", timeout=600)
    results = {r["name"]: r["value"] for r in
               json.loads((tmp_path / "bench/results.json").read_text())}
    assert results["class.sessions"] == 2
    assert 0 < results["class.page_load_p50_s"] <= results["class.page_load_p95_s"] \
        <= results["class.page_load_max_s"]
    assert results["class.job_img_per_s_alone"] > 0
    assert results["class.job_img_per_s_with_sessions"] > 0
    ratio = results["class.job_img_per_s_with_sessions"] / results["class.job_img_per_s_alone"]
    assert results["class.job_ratio"] == pytest.approx(ratio, abs=2e-4)
    assert results["class.job_ratio_browsers_here"] > 0
    assert results["class.job_ratio_server_share"] > 0
    text = (tmp_path / "BENCHMARKS.md").read_text()
    body = text.split("<!-- bench:class -->")[1]
    for page in ("train", "dataset", "explore"):
        assert re.search(rf"\| {page} \| \d+ \| \d+\.\d\d \|", body), page
    assert "2 students signed in" in body
    for phase in ("1. alone", "2. 2 sessions watching", "3. 2 sessions loading pages",
                  "4. 2 sessions watching, Chromium lowest priority", "5. alone, after",
                  "6. a process burning the server's phase-2 share, no browsers"):
        assert re.search(rf"\| {re.escape(phase)} \| \d+ \| \d\.\d\d \|", body), phase


def test_quick_projection_bench(tmp_path):
    quick_bench(tmp_path, "--only", "projection", timeout=600)
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "2 portraits the demo never trained on" in text
    assert re.search(r"\| RMS \| \d+\.\d \| \d+\.\d \| \*\*0\.\d\d\*\* /", text)
    names = {f["name"] for f in json.loads((tmp_path / "bench" / "results.json").read_text())}
    assert {"projection.rms_ratio_mean", "projection.typical_fraction",
            "projection.seconds_per_photo_median"} <= names
    assert (tmp_path / "docs" / "images" / "projection.png").is_file()


def test_each_section_says_how_much_cpu_time_the_host_stole(tmp_path, monkeypatch):
    from bench import common

    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  100 0 20 860 10 0 0 10 5 0\ncpu0 50 0 10 430 5 0 0 5 0 0\n")
    assert common.cpu_times(stat) == (10, 1000)
    assert common.cpu_times(tmp_path / "missing") == (0, 0)
    assert common.steal_share((10, 1000), (70, 1200)) == 30.0
    assert common.steal_share((0, 0), (0, 0)) is None

    monkeypatch.setattr(common, "cpu_times", lambda: (20, 2000))  # at the end of the run
    report = common.Report("demo", tmp_path, started=(0, 1000))  # 2% stolen: timings kept
    report.figure("x", 1.0, "ms")
    report.write()
    assert report.steal == 2.0
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "CPU time stolen by the host during the run: 2%." in text and "spoiled" not in text
    assert json.loads((tmp_path / "bench/results.json").read_text())[0]["cpu_steal_pct"] == 2.0

    # 40%: marked spoiled, the previous section replaced
    common.Report("demo", tmp_path, started=(-380, 1000)).write()
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "during the run: 40% (timings spoiled)." in text and text.count("bench:demo -->") == 2


def test_quick_faces_bench_on_the_shared_sets_or_says_they_are_missing(tmp_path):
    from bench.faces_bench import SETS, SHARED

    quick_bench(tmp_path, "--only", "faces", timeout=600)
    results = {r["name"]: r["value"] for r in
               json.loads((tmp_path / "bench/results.json").read_text())}
    for side in (512, 1024, 2048):
        assert results[f"faces.prepare_face_photos_per_s_{side}px"] > 0
    assert results["faces.face_finder_startup_s"] > 0
    text = (tmp_path / "BENCHMARKS.md").read_text()
    present = [key for key, (name, _) in SETS.items() if (SHARED / name).is_file()]
    if not present:
        assert "Not measured on real faces" in text
        # four pastes of one photo, some only 40 px wide: a smoke figure, not the goal's
        assert results["faces.astronaut_eye_error_median_px"] < 3
    for key in present:  # a dozen photos of each set
        assert 0.5 <= results[f"faces.{key}_share_found"] <= 1
        assert 0 <= results[f"faces.{key}_eye_error_median_px"] < 2
        assert (tmp_path / "bench" / "out" / f"faces-{key}.png").is_file()
