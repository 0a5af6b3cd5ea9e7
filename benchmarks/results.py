"""Where benchmark scripts put their numbers: dated rows in benchmarks/RESULTS.md.

Each script appends one section per run: the date, the CPU model and core count, the
command, and its table. Nothing else writes that file; the manual links to it.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
_HEADER = (
    "# Benchmark results\n\n"
    "Dated sections appended by the scripts in `benchmarks/` (newest last). Each names the "
    "CPU it ran on; numbers from different machines do not compare.\n"
)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one) and core count."""
    name = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    return f"{name}, {os.cpu_count()} cores"


def append(title: str, table: str, *, notes: str = "", path: str = RESULTS) -> str:
    """Appends a dated section (`## <date> <title>`) with the CPU, command and table."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(
        os.path.relpath(sys.argv[0]) if i == 0 else a for i, a in enumerate(sys.argv)
    )
    section = [f"\n## {stamp}: {title}\n", f"CPU: {cpu_model()}. Command: `{command}`.\n"]
    if notes:
        section.append(notes.rstrip() + "\n")
    section.append("\n" + table.rstrip() + "\n")
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write(_HEADER)
        f.write("".join(section))
    return path
