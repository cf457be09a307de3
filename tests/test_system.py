"""dcgan.system: GPU discovery through nvidia-smi, faked with a script on PATH."""

from __future__ import annotations

import os
import stat

from dcgan.system import device_summary, gpu_names


def fake_smi(folder, output: str, code: int = 0):
    path = folder / "nvidia-smi"
    path.write_text(f"#!/bin/sh\nprintf '{output}'\nexit {code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_no_nvidia_smi_means_cpu(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_names() == []
    assert device_summary() == f"CPU ({os.cpu_count()} cores)"


def test_gpus_are_listed(monkeypatch, tmp_path):
    fake_smi(tmp_path, "NVIDIA H200\\nNVIDIA H200\\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_names() == ["NVIDIA H200", "NVIDIA H200"]
    assert device_summary() == "2 x NVIDIA H200"


def test_a_failing_driver_means_cpu(monkeypatch, tmp_path):
    fake_smi(tmp_path, "NVIDIA-SMI has failed", code=9)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_names() == []
