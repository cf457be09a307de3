"""dcgan.train.step: the train step on one device, on two replicas, and its saved state."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dcgan.train.step import GIVEN, CallSize, GanTrainer, auto_policy, cpu_has_bf16, setup_device
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[1]


def real_batch(config, seed=0):
    lo, hi = config.value_range
    rng = np.random.default_rng(seed)
    return tf.constant(rng.uniform(lo, hi, (config.train.batch_size, 64, 64, 3)), tf.float32)


@pytest.mark.parametrize("name", ["ml241", "dcgan", "wgan-gp"])
def test_a_step_updates_both_networks(name):
    config = tiny_config(name, n_critic=1)
    trainer = GanTrainer(config, setup_device(config))
    before = trainer.get_state()
    values = trainer.train_step(real_batch(config), 0)
    after = trainer.get_state()
    assert set(values) >= {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v) for v in values.values())
    assert not np.allclose(before["g"][0], after["g"][0])
    assert not np.allclose(before["d"][0], after["d"][0])
    assert trainer.iterations() == (1, 1)
    if name != "wgan-gp":
        assert 0.0 < values["d_real"] < 1.0 and 0.0 < values["d_fake"] < 1.0


def test_the_recipe_options_update_ema_p_and_sample_from_the_ema_copy():
    config = tiny_config("dcgan", ema_half_life=16, ema_rampup=0.0, augment="adaptive",
                         ada_images=80, ada_target=0.0, d_norm="spectral", loss="hinge",
                         r1_gamma=1.0, r1_every=2)
    trainer = GanTrainer(config, setup_device(config))
    assert trainer.inference_generator is trainer.ema.model
    g_before = trainer.get_state()["g"]
    first = trainer.train_step(real_batch(config), 0)
    beta = 0.5 ** (8 / 16)  # batch 8, half-life 16 images, no ramp
    after = trainer.get_state()
    for e, g0, g1 in zip(after["ema"], g_before, after["g"], strict=True):
        np.testing.assert_allclose(e, beta * g0 + (1 - beta) * g1, rtol=1e-5, atol=1e-6)
    assert first["augment_p"] == 0.0 and "r1" in first and first["r1"] > 0
    second = trainer.train_step(real_batch(config, 1), 1)
    assert "r1" not in second  # lazy: every r1_every steps
    rt = first["d_real_sign"]
    assert second["augment_p"] == pytest.approx(0.1 if rt > 0 else 0.0)
    state = trainer.get_state()
    assert not np.allclose(state["ema"][0], state["g"][0])
    z = np.random.default_rng(1).standard_normal((4, 16)).astype(np.float32)
    ema_out = trainer.sample(z)
    g_alone = GanTrainer(config.with_overrides(ema_half_life=0), setup_device(config))
    g_alone.generator.set_weights(state["g"])
    assert not np.array_equal(ema_out, g_alone.sample(z))  # samples come from the copy


def test_n_critic_and_g_steps_count_updates():
    config = tiny_config("wgan-gp", n_critic=3, g_steps=2)
    trainer = GanTrainer(config, setup_device(config))
    first = trainer.train_step(real_batch(config), 0)
    assert "g_loss" not in first and "gp" in first  # no generator step yet
    for step in range(1, 6):
        values = trainer.train_step(real_batch(config, step), step)
    assert "g_loss" in values
    assert trainer.iterations() == (4, 6)  # G: 2 steps after D steps 3 and 6; D: 6



def test_the_ema_half_life_counts_the_images_d_saw_whatever_n_critic():
    """With n_critic 2 the copy moves once per two batches: by two batches' worth, so its
    half-life is in the run's images, not in generator updates (which would double it)."""
    config = tiny_config("dcgan", n_critic=2, ema_half_life=16, ema_rampup=0.0)
    trainer = GanTrainer(config, setup_device(config))
    g0 = trainer.get_state()["g"]
    trainer.train_step(real_batch(config), 0)  # critic only: the copy stays
    np.testing.assert_array_equal(trainer.get_state()["ema"][0], g0[0])
    trainer.train_step(real_batch(config, 1), 1)  # the generator's update: 16 images seen
    beta = 0.5 ** (2 * 8 / 16)  # two batches of 8, half-life 16
    after = trainer.get_state()
    for e, g_start, g_now in zip(after["ema"], g0, after["g"], strict=True):
        np.testing.assert_allclose(e, beta * g_start + (1 - beta) * g_now, rtol=1e-5, atol=1e-6)


def test_r1_is_taken_at_the_unaugmented_reals_with_the_augmentation_inside_d():
    """StyleGAN2-ADA's R1: ||grad_x D(aug(x))||^2. Cutout zeroes the gradient where it cuts,
    so the penalty at D's augmented view (||grad_y D(y)||^2, y = aug(x)) differs."""
    from dcgan.train.step import AUG_D

    config = tiny_config("dcgan", augment="fixed", augment_p=1.0, r1_gamma=1.0, r1_every=1,
                         d_norm="layer", loss="hinge")
    trainer = GanTrainer(config, setup_device(config))
    real = real_batch(config)
    view = trainer._augment(real, tf.constant(0, tf.int64), AUG_D, 0, tf.constant(1.0))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(real)
        tape.watch(view)
        at_x = trainer.discriminator(trainer._augment(real, tf.constant(0, tf.int64), AUG_D, 0,
                                                      tf.constant(1.0)), training=True)
        at_view = trainer.discriminator(view, training=True)

    def penalty(out, x):
        return float(tf.reduce_mean(tf.reduce_sum(tf.square(tape.gradient(out, x)), [1, 2, 3])))

    expected, at_augmented = penalty(at_x, real), penalty(at_view, view)
    assert abs(expected - at_augmented) > 0.05 * at_augmented  # the two differ
    assert trainer.train_step(real, 0)["r1"] == pytest.approx(expected, rel=1e-4)

@pytest.mark.parametrize("name, overrides", [
    ("dcgan", dict(ema_half_life=16, ema_rampup=0.5, augment="adaptive", ada_images=80,
                   ada_target=0.0, r1_gamma=1.0, r1_every=2, loss="hinge")),
    ("wgan-gp", dict(n_critic=3, g_steps=2))], ids=["ema-ada-r1", "n-critic"])
def test_one_call_of_k_steps_equals_k_calls_of_one(name, overrides):
    """Every step variant, ADA's p and the EMA beta inside the compiled loop: same result."""
    config = tiny_config(name, **overrides)
    one, many = (GanTrainer(config, setup_device(config)) for _ in range(2))
    batch = real_batch(config)
    singles = [one.train_step(batch, step) for step in range(7)]
    block = many.train_steps(GIVEN, batch, 0, 4) + many.train_steps(GIVEN, batch, 4, 3)
    assert block == singles  # the same floats, key for key
    a, b = one.get_state(), many.get_state()
    assert set(a) == set(b)
    for group in a:
        for x, y in zip(a[group], b[group], strict=True):
            np.testing.assert_array_equal(x, y, err_msg=group)
    assert one.iterations() == many.iterations()
    if name == "dcgan":
        assert [("r1" in v) for v in block] == [True, False] * 3 + [True]
        assert len({v["augment_p"] for v in block}) > 1  # p moved on the device
    else:
        assert "g_loss" not in block[0] and block[2]["g_loss"] == block[3]["g_loss"]


def test_call_size_is_fixed_when_set_and_aims_at_a_quarter_second_otherwise():
    fixed = CallSize(5)
    fixed.observe(5, 0.01)
    fixed.observe(5, 0.01)
    assert fixed.k == 5
    auto = CallSize(0)
    assert auto.k == 1
    auto.observe(1, 3.0)  # the first call traces: not measured
    assert auto.k == 1
    auto.observe(1, 0.01)  # 10 ms a step -> 25 steps a call
    assert auto.k == 25
    auto.observe(25, 0.0025)  # 0.1 ms a step: capped
    assert auto.k == CallSize.MAX
    auto.observe(64, 64 * 0.5)  # slow steps: one per call
    assert auto.k == 1


def test_auto_precision_is_bf16_on_cpus_with_bf16_instructions():
    assert cpu_has_bf16("processor: 0\nflags\t: fpu avx512f avx512_bf16 amx_tile\n")
    assert cpu_has_bf16("flags\t: fpu amx_bf16 amx_tile\n")
    assert not cpu_has_bf16("flags\t: fpu avx2 avx512f\n")
    assert not cpu_has_bf16("no flags line here")
    assert auto_policy([], True) == "mixed_bfloat16"
    assert auto_policy([], False) == "float32"
    config = tiny_config("dcgan")  # mixed_precision "auto" by default
    assert setup_device(config).policy == ("mixed_bfloat16" if cpu_has_bf16() else "float32")
    assert setup_device(config.with_overrides(mixed_precision="off")).policy == "float32"


def test_state_round_trip_reproduces_samples_and_steps():
    config = tiny_config("dcgan")
    a = GanTrainer(config, setup_device(config))
    a.train_step(real_batch(config), 0)
    b = GanTrainer(config, setup_device(config))
    b.set_state(a.get_state())
    z = np.random.default_rng(1).standard_normal((4, 16)).astype(np.float32)
    assert np.array_equal(a.sample(z), b.sample(z))
    assert a.sample(z).dtype == np.uint8 and a.sample(z).shape == (4, 64, 64, 3)
    va, vb = a.train_step(real_batch(config, 5), 1), b.train_step(real_batch(config, 5), 1)
    np.testing.assert_allclose(va["d_loss"], vb["d_loss"], rtol=1e-5)
    assert a.iterations() == b.iterations() == (2, 2)


def test_fp16_loss_scaling_path_runs():
    config = tiny_config("dcgan", mixed_precision="fp16")
    device = setup_device(config)
    assert device.policy == "mixed_float16"
    trainer = GanTrainer(config, device)
    values = trainer.train_step(real_batch(config), 0)
    assert all(np.isfinite(v) for v in values.values())


TWO_DEVICES = textwrap.dedent("""
    import numpy as np, tensorflow as tf, sys
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from dcgan.train.step import DeviceSetup, GanTrainer
    from tests.conftest import tiny_config
    # Minibatch stddev (studio's) groups the images each replica holds, as ProGAN and
    # StyleGAN do on several GPUs: its groups differ from one device's, so it is off here
    config = tiny_config(sys.argv[1], label_noise=0.05, d_mbstd=0)
    gb = config.train.batch_size
    batch = np.random.default_rng(3).uniform(-1, 1, (gb, 64, 64, 3)).astype(np.float32)
    one = GanTrainer(config, DeviceSetup(tf.distribute.OneDeviceStrategy("/cpu:0"),
                                         "float32", False, "one"))
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    two = GanTrainer(config, DeviceSetup(mirrored, "float32", False, "two"))
    # Not the initial biases (zeros): they give fake images flat regions, hence exact ties in
    # ml241's max pooling, whose gradient then goes to whichever tied input the kernel picks
    # (another one for a half batch: a valid subgradient, but not the same step).
    state = one.get_state()
    rng = np.random.default_rng(4)
    state["g"] = [w + rng.normal(0, 0.05, w.shape).astype(np.float32) if w.ndim == 1 else w
                  for w in state["g"]]
    one.set_state(state)
    two.set_state(state)
    half = gb // 2
    split = mirrored.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(batch[ctx.replica_id_in_sync_group * half:][:half]))
    a = one.train_step(tf.constant(batch), 0)
    b = two.train_step(split, 0)
    for key in a:
        assert abs(a[key] - b[key]) < 1e-5, (key, a[key], b[key])
    a_state, b_state = one.get_state(), two.get_state()
    # The same gradients: Adam's moments after one step are (1 - beta1) g and (1 - beta2) g^2,
    # equal up to float32 summation-order rounding, relative to each array's scale.
    worst = 0.0
    for key in ("g_opt", "d_opt"):
        for x, y in zip(a_state[key], b_state[key]):
            error = float(np.abs(x - y).max()) / max(float(np.abs(x).max()), 1e-30)
            assert error <= 1e-4, (key, x.shape, error)
            worst = max(worst, error)
    # The same weights but for Adam's normalisation g / (sqrt(v) + eps): it turns the
    # rounding of gradients near eps into differences of up to one learning rate on a few
    # elements; never more.
    groups = [("g", config.train.g_lr), ("d", config.train.d_lr)]
    if "ema" in a_state:  # studio: the EMA copy (= G after the first step) and ADA's p too
        groups.append(("ema", config.train.g_lr))
        assert a_state["aug"][0][0] == b_state["aug"][0][0]
    for group, lr in groups:
        for x, y in zip(a_state[group], b_state[group]):
            assert np.abs(x - y).max() <= 1.01 * lr, (group, np.abs(x - y).max())
    print("SAME", mirrored.num_replicas_in_sync, worst)
""")


@pytest.mark.parametrize("name", ["ml241", "dcgan", "studio"])
def test_two_logical_cpus_give_the_same_step_as_one(name):
    out = subprocess.run([sys.executable, "-c", TWO_DEVICES, name], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SAME 2" in out.stdout


TWO_DEVICES_RESIDENT = textwrap.dedent("""
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from dcgan.train.pipeline import ResidentImages, input_spec
    from dcgan.train.step import DeviceSetup, GanTrainer
    from tests.conftest import tiny_config
    config = tiny_config("dcgan", n_critic=2, rotation_deg=10.0)  # two step variants
    images = np.random.default_rng(3).integers(0, 256, (24, 64, 64, 3), dtype=np.uint8)
    one = GanTrainer(config, DeviceSetup(tf.distribute.OneDeviceStrategy("/cpu:0"),
                                         "float32", False, "one"))
    two = GanTrainer(config, DeviceSetup(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
                                         "float32", False, "two"))
    two.set_state(one.get_state())
    source = ResidentImages(images, input_spec(config))
    a = one.train_steps(source, source.args(0, 0), 0, 3)
    b = two.train_steps(source, source.args(0, 0), 0, 3)
    assert len(a) == len(b) == 3 and "g_loss" not in a[0] and "g_loss" in a[1]
    # The first step agrees to rounding; Adam's g / sqrt(v) then amplifies the summation order
    # of near-zero gradients (see TWO_DEVICES), so later steps agree to 1e-3.
    for n, (x, y) in enumerate(zip(a, b)):
        assert x.keys() == y.keys()
        tolerance = 1e-5 if n == 0 else 1e-3
        for key in x:
            assert abs(x[key] - y[key]) <= tolerance * max(1.0, abs(x[key])), (n, key, x, y)
    print("SAME", two.strategy.num_replicas_in_sync)
""")


def test_two_replicas_gather_their_slices_of_resident_data_in_k_step_calls():
    out = subprocess.run([sys.executable, "-c", TWO_DEVICES_RESIDENT], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SAME 2" in out.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_local_workers_train_together(tmp_path):
    """MultiWorkerMirroredStrategy over TF_CONFIG: two processes on 127.0.0.1."""
    import json

    from dcgan.data.prepare import prepare_dataset
    from dcgan.data.synthetic import generate_dataset
    from dcgan.workspace import Workspace

    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, homes = [], []
    for index in range(2):
        home = tmp_path / f"machine{index}"  # each "machine" has its own workspace
        ws = Workspace(home).ensure()
        generate_dataset(ws.dataset_dir("tiny"), 32, seed=1, size=64, workers=1)
        prepare_dataset(ws, "tiny", workers=1)
        env = {**os.environ, "DCGAN_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster,
                                        "task": {"type": "worker", "index": index}})}
        args = ["train", "--dataset", "tiny", "--strategy", "multiworker", "--epochs", "2",
                "--steps-per-epoch", "2", "--batch-size", "8", "--g-filters", "8",
                "--d-filters", "8", "--latent-dim", "16", "--checkpoint-every", "1",
                "--log-every", "1", "--run-name", "multi", "--no-progress"]
        procs.append(subprocess.Popen([sys.executable, "-m", "dcgan", *args], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
        homes.append(home)
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    chief = homes[0] / "GAN_MODEL" / "00001-multi"
    status = json.loads((chief / "status.json").read_text())
    assert (status["state"], status["step"]) == ("done", 4)
    assert "2 replica(s)" in status["device"]
    assert status["input"] == "streamed from disk" and status["steps_per_call"] == 1
    assert len(list((chief / "checkpoints").glob("ckpt-*.npz"))) == 2
    worker = homes[1] / "GAN_MODEL" / "00001-multi"
    assert not list((worker / "checkpoints").glob("ckpt-*.npz"))  # only the chief writes
