"""What this machine offers for training (devices, measured speed), found without importing
TensorFlow into the caller."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

from dcgan.errors import DcganError

SPEED_FILE = "speed.json"  # the default settings' measured speed, in the workspace root


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


def measure_speed(preset_name: str, flags: Sequence[str] = (), timeout: float = 900) -> dict:
    """Run `python -m dcgan estimate` in a fresh process (TensorFlow stays out of the caller).

    Returns its JSON: device, gpus, seconds_per_step, images_per_s. DcganError with the
    child's last error line if it fails; subprocess.TimeoutExpired after `timeout` seconds.
    """
    out = subprocess.run([sys.executable, "-m", "dcgan", "estimate", "--preset", preset_name,
                          *flags], capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if out.returncode != 0:
        raise DcganError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed")
    return json.loads(out.stdout.strip().splitlines()[-1])
