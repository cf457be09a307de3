"""Shared benchmark plumbing: machine description, timing, and writing BENCHMARKS.md.

Each benchmark owns one section of BENCHMARKS.md between `<!-- bench:NAME -->` and
`<!-- /bench:NAME -->` markers and rewrites only that section, so benchmarks can run
separately. Every figure also goes to bench/results.json as {name, value, unit, machine, date}.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    """One line: CPU model, cores, memory, OS and library versions."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Linux {platform.release()}, " \
           f"Python {platform.python_version()}"


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


@dataclass
class Report:
    """Figures and markdown of one benchmark, written into BENCHMARKS.md and results.json."""

    name: str
    out_dir: Path = ROOT
    figures: list[dict] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def figure(self, name: str, value: float, unit: str) -> float:
        self.figures.append({"name": f"{self.name}.{name}", "value": round(float(value), 4),
                             "unit": unit})
        return value

    def write(self) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        host = machine()
        section = "\n".join([f"<!-- bench:{self.name} -->",
                             f"_Measured {now} on {host}._", "", *self.lines,
                             f"<!-- /bench:{self.name} -->"])
        md_path = self.out_dir / "BENCHMARKS.md"
        text = md_path.read_text() if md_path.exists() else "# Benchmarks\n"
        pattern = re.compile(rf"<!-- bench:{self.name} -->.*?<!-- /bench:{self.name} -->",
                             re.S)
        text = pattern.sub(lambda _: section, text) if pattern.search(text) else \
            text.rstrip() + "\n\n" + section + "\n"
        md_path.write_text(text)
        json_path = self.out_dir / "bench" / "results.json"
        json_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            old = json.loads(json_path.read_text())
        except (OSError, ValueError):
            old = []
        kept = [r for r in old if not r["name"].startswith(f"{self.name}.")]
        fresh = [{**f, "machine": host, "date": now} for f in self.figures]
        json_path.write_text(json.dumps(kept + fresh, indent=1) + "\n")
