"""What this machine offers for training, found without importing TensorFlow."""

from __future__ import annotations

import os
import shutil
import subprocess


def gpu_names(timeout_s: float = 5.0) -> list[str]:
    """NVIDIA GPU names from nvidia-smi, or [] when there is none (or no driver)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def device_summary() -> str:
    """'2 x NVIDIA H100' or 'CPU (2 cores)'."""
    names = gpu_names()
    if not names:
        return f"CPU ({os.cpu_count()} cores)"
    if len(set(names)) == 1:
        return f"{len(names)} x {names[0]}" if len(names) > 1 else names[0]
    return ", ".join(names)
