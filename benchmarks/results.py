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


# The vector extensions that decide float32 and bfloat16 speed on the CPUs we run on (a
# Xeon with AVX512-BF16 and no AMX, AMD EPYCs with and without AVX-512): the model name
# alone does not tell these apart ("AMD EPYC").
_EXTENSIONS = (("avx512f", "AVX-512F"), ("avx512_bf16", "AVX512-BF16"), ("amx_tile", "AMX"))


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name, its AVX-512/AMX extensions and the core count.

    Args:
      cpuinfo: the text of /proc/cpuinfo; None reads it where there is one.
    """
    if cpuinfo is None and os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
    fields = {}  # The first processor's (every core reports the same).
    for line in (cpuinfo or "").splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or platform.processor() or platform.machine()
    flags = set(fields["flags"].split()) if "flags" in fields else None
    if flags is None:
        return f"{name}, {os.cpu_count()} cores"
    found = [label for flag, label in _EXTENSIONS if flag in flags]
    extensions = ", ".join(found) if found else "no AVX-512"
    if found and "AMX" not in found:
        extensions += ", no AMX"
    return f"{name} ({extensions}), {os.cpu_count()} cores"


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
