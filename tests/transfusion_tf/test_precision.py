import pytest
import tensorflow as tf

from transfusion_tf import precision


def test_explicit_precisions_pass_through_and_unknown_raises():
    assert precision.resolve_precision("mixed_float16") == "mixed_float16"
    with pytest.raises(ValueError, match="valid: float32, mixed_bfloat16, mixed_float16, auto"):
        precision.resolve_precision("bf16")


def test_auto_uses_bf16_only_on_cpus_with_amx(monkeypatch):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx512f", "amx_bf16"})
    assert precision.resolve_precision("auto") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx512f"})
    assert precision.resolve_precision("auto") == "float32"
    # AVX512-BF16 alone: bf16 measured slower than float32 (bench_train.py).
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert precision.resolve_precision("auto") == "float32"


def test_apply_sets_the_global_policy():
    try:
        assert precision.apply_precision("mixed_bfloat16") == "mixed_bfloat16"
        assert tf.keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        precision.apply_precision("float32")
