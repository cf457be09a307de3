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
# Above this share of stolen CPU time a section's timings are marked spoiled: run it again.
STEAL_SPOILS = 5.0


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


def cpu_times(stat: Path = Path("/proc/stat")) -> tuple[int, int]:
    """(stolen, total) CPU ticks of all cores since boot; (0, 0) where the kernel has none.

    Steal is the time a virtual machine's cores wanted to run but the host ran someone else:
    on a shared host it slows every timing of a run, so each section says how much there was.
    """
    try:
        fields = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """Percentage of CPU time stolen between two `cpu_times`; None if nothing was counted."""
    total = after[1] - before[1]
    return 100 * (after[0] - before[0]) / total if total > 0 else None


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
    started: tuple[int, int] = field(default_factory=cpu_times)
    steal: float | None = None  # % of CPU time stolen during the run, set by write()

    def figure(self, name: str, value: float, unit: str) -> float:
        self.figures.append({"name": f"{self.name}.{name}", "value": round(float(value), 4),
                             "unit": unit})
        return value

    def write(self) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        host = machine()
        steal = self.steal = steal_share(self.started, cpu_times())
        stolen = "" if steal is None else f" CPU time stolen by the host during the run: " \
            f"{steal:.0f}%{' (timings spoiled)' if steal >= STEAL_SPOILS else ''}."
        section = "\n".join([f"<!-- bench:{self.name} -->",
                             f"_Measured {now} on {host}._{stolen}", "", *self.lines,
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
        fresh = [{**f, "machine": host, "date": now, "cpu_steal_pct": steal}
                 for f in self.figures]
        json_path.write_text(json.dumps(kept + fresh, indent=1) + "\n")
