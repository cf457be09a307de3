"""dcgan.config: presets, validation naming the field, JSON round trip, overrides."""

from __future__ import annotations

import pytest

from dcgan.config import PRESETS, Config, ConfigError, field_names, preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_validate_and_round_trip(name):
    config = preset(name).validate()
    assert config.preset == name
    again = Config.from_json(config.to_json())
    assert again == config


def test_ml241_preset_follows_the_seed():
    c = preset("ml241")
    assert (c.model.arch, c.model.output, c.model.latent_dim) == ("ml241", "sigmoid", 100)
    assert (c.train.g_lr, c.train.d_lr, c.train.loss) == (2e-4, 5e-5, "bce")
    assert c.train.label_smoothing > 0 and c.train.label_noise > 0
    assert (c.train.epochs, c.train.checkpoint_every) == (100, 10)
    assert c.data.flip and c.data.rotation_deg > 0
    assert c.value_range == (0.0, 1.0)


def test_paper_and_wgan_presets():
    d, w = preset("dcgan"), preset("wgan-gp")
    assert (d.train.g_beta1, d.train.g_lr, d.model.g_norm, d.value_range) == \
        (0.5, 2e-4, "batch", (-1.0, 1.0))
    assert (w.train.loss, w.train.n_critic, w.train.gp_weight, w.train.d_beta2) == \
        ("wgan-gp", 5, 10.0, 0.9)
    assert w.model.d_norm != "batch"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("g_lr", -0.001, "g_lr: -0.001 is out of range; allowed: 1e-07 to 1"),
        ("latent_dim", 0, "latent_dim: 0 is out of range; allowed: 1 to 4096"),
        ("batch_size", 0, "batch_size: 0 is out of range"),
        ("label_smoothing", 0.9, "label_smoothing: 0.9 is out of range; allowed: 0 to 0.5"),
        ("loss", "mse", "loss: 'mse' is not one of bce, wgan-gp, hinge"),
        ("arch", "stylegan", "arch: 'stylegan' is not one of ml241, dcgan"),
        ("g_depth", 9, "g_depth: 9 is out of range; allowed: 2 to 6"),
        ("steps_per_call", -1, "steps_per_call: -1 is out of range; allowed: 0 to 1024"),
        ("resident_data", "gpu", "resident_data: 'gpu' is not one of auto, on, off"),
    ],
)
def test_validate_names_the_field_and_range(field, value, message):
    with pytest.raises(ConfigError) as info:
        preset("dcgan").with_overrides(**{field: value}).validate()
    assert str(info.value).startswith(message)


def test_batch_larger_than_dataset():
    with pytest.raises(ConfigError, match="batch_size: 128 is larger than the dataset"):
        preset("dcgan").validate(dataset_size=10)


def test_wgan_with_batch_norm_critic_is_refused():
    with pytest.raises(ConfigError, match="d_norm"):
        preset("wgan-gp").with_overrides(d_norm="batch").validate()


def test_overrides_coerce_strings_and_keep_the_original():
    base = preset("dcgan")
    changed = base.with_overrides(g_lr="0.001", epochs="7", flip="false", latent_dim=None)
    assert (changed.train.g_lr, changed.train.epochs, changed.data.flip) == (0.001, 7, False)
    assert changed.model.latent_dim == 100 and base.train.g_lr == 2e-4
    with pytest.raises(ConfigError, match="epochs: 'seven' is not a valid int"):
        base.with_overrides(epochs="seven")
    with pytest.raises(ConfigError, match="unknown setting"):
        base.with_overrides(colour="red")


def test_bad_json_and_unknown_fields():
    with pytest.raises(ConfigError, match="not valid JSON"):
        Config.from_json("{nope")
    with pytest.raises(ConfigError, match="unknown or missing field"):
        Config.from_json('{"train": {"warp_speed": 9}}')
    with pytest.raises(ConfigError, match="preset"):
        preset("biggan")


def test_field_names_are_unique_and_flat():
    names = [name for name, _, _ in field_names()]
    assert len(names) == len(set(names))
    assert {"dataset", "latent_dim", "g_lr", "epochs", "checkpoint_every", "seed",
            "steps_per_epoch", "batch_size", "d_lr"} <= set(names)


def test_a_run_written_before_the_stddev_conv_keeps_its_discriminator():
    config = preset("dcgan").with_overrides(d_mbstd=4)
    assert config.model.d_mbstd_head == "conv"
    assert Config.from_json(config.to_json()).model.d_mbstd_head == "conv"
    old = config.to_dict()
    del old["model"]["d_mbstd_head"]
    assert Config.from_dict(old).model.d_mbstd_head == "linear"  # its checkpoints' D
    assert Config.from_dict({"preset": "x"}).model.d_mbstd_head == "conv"
    with pytest.raises(ConfigError, match="d_mbstd_head"):
        config.with_overrides(d_mbstd_head="dense").validate()


def test_evaluation_settings_and_configs_from_before_them():
    config = preset("dcgan")
    assert (config.train.eval_every, config.train.eval_images) == (5, 512)
    assert Config.from_json(config.to_json()).train.eval_every == 5
    old = config.to_dict()
    del old["train"]["eval_every"], old["train"]["eval_images"]
    # a run written before evaluation existed must not start holding rows out on resume
    assert Config.from_dict(old).train.eval_every == 0
    assert Config.from_dict({"preset": "x"}).train.eval_every == 5  # nothing given: defaults
    with pytest.raises(ConfigError, match="eval_images: 1 is out of range; allowed: 2 to"):
        config.with_overrides(eval_images=1).validate()
    with pytest.raises(ConfigError, match="eval_every: -1 is out of range"):
        config.with_overrides(eval_every=-1).validate()


def test_studio_is_the_default_and_combines_the_recipe():
    from dcgan.config import DEFAULT_PRESET

    c = preset("studio")
    assert DEFAULT_PRESET == "studio" and Config().preset == "studio"
    assert (c.model.d_norm, c.train.loss, c.data.augment) == ("spectral", "hinge", "fixed")
    assert c.train.ema_half_life > 0 and c.data.rotation_deg == 0 and c.data.flip
    # chosen on real faces (DECISIONS "The recipe on real faces"): minibatch stddev read by
    # a 1x1 conv, and two time-scales with Adam betas (0, 0.99)
    assert (c.model.d_mbstd, c.model.d_mbstd_head) == (4, "conv1x1")
    assert (c.train.g_lr, c.train.d_lr) == (1e-4, 4e-4)
    assert (c.train.g_beta1, c.train.g_beta2, c.train.d_beta1, c.train.d_beta2) == \
        (0.0, 0.99, 0.0, 0.99)
    for name in ("ml241", "dcgan", "wgan-gp", "demo"):  # the others keep the paper's ways
        other = preset(name)
        assert (other.data.augment, other.train.ema_half_life, other.train.r1_gamma) == \
            ("off", 0, 0.0)


@pytest.mark.parametrize("field, value, message", [
    ("augment_p", 1.5, "augment_p: 1.5 is out of range; allowed: 0 to 1"),
    ("ema_half_life", -1, "ema_half_life: -1 is out of range"),
    ("r1_every", 0, "r1_every: 0 is out of range; allowed: 1 to 1000"),
    ("d_norm", "weight", "d_norm: 'weight' is not one of batch, layer, spectral, none"),
])
def test_recipe_settings_are_validated(field, value, message):
    with pytest.raises(ConfigError, match=message):
        preset("studio").with_overrides(**{field: value}).validate()


def test_configs_from_before_the_recipe_load_with_it_off():
    old = preset("dcgan").to_dict()
    for key in ("augment", "augment_policy", "augment_p", "ada_target", "ada_images"):
        del old["data"][key]
    for key in ("r1_gamma", "r1_every", "ema_half_life", "ema_rampup"):
        del old["train"][key]
    config = Config.from_dict(old)
    assert (config.data.augment, config.train.ema_half_life, config.train.r1_gamma) == \
        ("off", 0, 0.0)
