"""dcgan.workspace: layout, names, and the one check that confines server paths."""

from __future__ import annotations

import os

import pytest

from dcgan.errors import DatasetError, PathNotAllowed
from dcgan.workspace import Workspace, allowed_roots, check_name, confine


def test_layout_keeps_the_seed_names(tmp_path):
    ws = Workspace(tmp_path).ensure()
    assert ws.datasets_dir == tmp_path / "DATA" / "DATASET"
    assert ws.scale_dir == tmp_path / "DATA" / "DATA_SCALE"
    assert ws.runs_dir == tmp_path / "GAN_MODEL"
    assert all(p.is_dir() for p in (ws.datasets_dir, ws.scale_dir, ws.runs_dir))


def test_from_env_defaults_to_workspace_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Workspace.from_env({}).root == (tmp_path / "workspace").resolve()
    assert Workspace.from_env({"DCGAN_HOME": str(tmp_path / "x")}).root == tmp_path / "x"


@pytest.mark.parametrize("name", ["faces", "my-set_2", "A1"])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "../up", "a/b", ".hidden", "-x", "a b", "x" * 65, None])
def test_bad_names_are_refused(name):
    with pytest.raises(DatasetError):
        check_name(name)


def test_list_and_delete_datasets(tmp_path):
    ws = Workspace(tmp_path).ensure()
    (ws.dataset_dir("one")).mkdir()
    (ws.dataset_dir("one") / "a.png").write_bytes(b"12345")
    (ws.dataset_dir("one") / "import_report.json").write_text("{}")
    ws.cache_dir("one").mkdir()
    (ws.cache_dir("one") / "manifest.json").write_text('{"count": 7}')
    [info] = ws.list_datasets()
    assert (info.name, info.source_files, info.prepared_images) == ("one", 1, 7)
    assert info.bytes_on_disk == 7
    ws.delete_dataset("one")
    assert ws.list_datasets() == [] and not ws.cache_dir("one").exists()


def test_allowed_roots_parsing(tmp_path):
    env = {"DCGAN_ALLOWED_ROOTS": f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"}
    assert allowed_roots(env) == [tmp_path / "a", tmp_path / "b"]
    assert allowed_roots({}) is None


@pytest.fixture
def roots(tmp_path):
    data = tmp_path / "data"
    (data / "faces").mkdir(parents=True)
    (tmp_path / "data-evil").mkdir()
    (tmp_path / "secret").mkdir()
    (data / "escape").symlink_to(tmp_path / "secret")
    ws = Workspace(tmp_path / "ws").ensure()
    return ws, data, {"DCGAN_ALLOWED_ROOTS": str(data)}


def test_paths_inside_the_root_are_allowed(roots):
    ws, data, env = roots
    assert confine(data / "faces", workspace=ws, from_app=True, environ=env) == data / "faces"
    assert confine(data, workspace=ws, from_app=False, environ=env) == data


@pytest.mark.parametrize(
    "relative",
    ["data/../secret", "data-evil", "data/escape", "data/escape/missing.zip", "nowhere/x", "/etc"],
)
def test_paths_outside_the_root_are_refused(roots, relative):
    ws, data, env = roots
    path = relative if relative.startswith("/") else data.parent / relative
    for from_app in (True, False):
        with pytest.raises(PathNotAllowed) as info:
            confine(path, workspace=ws, from_app=from_app, environ=env)
        assert "not inside an allowed folder" in str(info.value)


def test_refusal_does_not_reveal_existence(roots):
    ws, data, env = roots
    messages = []
    for name in ("secret", "no-such-folder"):
        with pytest.raises(PathNotAllowed) as info:
            confine(data.parent / name, workspace=ws, from_app=True, environ=env)
        messages.append(str(info.value).replace(name, "X"))
    assert messages[0] == messages[1]


def test_unset_roots_cli_reads_anything_app_only_the_workspace(roots):
    ws, data, _ = roots
    assert confine(data, workspace=ws, from_app=False, environ={}) == data
    with pytest.raises(PathNotAllowed):
        confine(data, workspace=ws, from_app=True, environ={})
    inside = ws.datasets_dir
    assert confine(inside, workspace=ws, from_app=True, environ={}) == inside
