"""Numeric precision: float32, or Keras mixed precision with a float32 head.

`auto` picks what is fast on the machine at hand: mixed_bfloat16 on CPUs with AMX or
AVX512-BF16 (and GPUs of compute capability >= 8.0), mixed_float16 on older CUDA GPUs,
float32 elsewhere (bfloat16 is emulated, and several times slower, on CPUs without them).
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
    return "mixed_bfloat16" if {"amx_bf16", "avx512_bf16"} & flags else "float32"


def apply_precision(name: str) -> str:
    """Sets the global Keras policy; returns the resolved policy name."""
    resolved = resolve_precision(name)
    tf.keras.mixed_precision.set_global_policy(resolved)
    return resolved
