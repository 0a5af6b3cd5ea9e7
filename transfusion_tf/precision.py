"""Numeric precision: float32, or Keras mixed precision with a float32 head.

`auto` picks what is fast on the machine at hand: mixed_bfloat16 on CPUs with AMX (and GPUs
of compute capability >= 8.0), mixed_float16 on older CUDA GPUs, float32 elsewhere. On CPUs
without AMX bfloat16 is slower than float32, even with AVX512-BF16: `benchmarks/bench_train.py`
measured CBR-Small at 18.5 img/s in mixed_bfloat16 against 30.3 in float32 on such a CPU
(benchmarks/RESULTS.md; the decision: docs/decisions.md).
"""

from __future__ import annotations

import tensorflow as tf

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_precision(name: str) -> str:
    """Maps `auto` to a concrete policy name; validates the others."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; valid: {', '.join(PRECISIONS)}")
    if name != "auto":
        return name
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        return "mixed_bfloat16" if capability and capability >= (8, 0) else "mixed_float16"
    flags = _cpu_flags()
    return "mixed_bfloat16" if "amx_bf16" in flags else "float32"


def apply_precision(name: str) -> str:
    """Sets the global Keras policy; returns the resolved policy name."""
    resolved = resolve_precision(name)
    tf.keras.mixed_precision.set_global_policy(resolved)
    return resolved
