"""benchmarks/results.py: the CPU line every benchmark section starts with."""

import os

from benchmarks import results

_CPUINFO = """processor\t: 0
model name\t: {name}
flags\t\t: fpu sse2 avx avx2 fma {flags}

processor\t: 1
model name\t: {name}
flags\t\t: fpu sse2 avx avx2 fma {flags}
"""


def test_cpu_model_names_the_vector_extensions_that_set_the_speed():
    cores = os.cpu_count()
    zen3 = _CPUINFO.format(name="AMD EPYC", flags="sha_ni")
    zen4 = _CPUINFO.format(name="AMD EPYC", flags="avx512f avx512bw avx512_bf16")
    xeon_amx = _CPUINFO.format(name="Intel Xeon", flags="avx512f avx512_bf16 amx_bf16 amx_tile")
    assert results.cpu_model(zen3) == f"AMD EPYC (no AVX-512), {cores} cores"
    assert results.cpu_model(zen4) == f"AMD EPYC (AVX-512F, AVX512-BF16, no AMX), {cores} cores"
    assert results.cpu_model(xeon_amx) == f"Intel Xeon (AVX-512F, AVX512-BF16, AMX), {cores} cores"
    assert results.cpu_model("").endswith(f", {cores} cores")  # No /proc/cpuinfo: no flags.
