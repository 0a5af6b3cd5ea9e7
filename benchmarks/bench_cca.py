"""CCA speed, accuracy and memory against the textbook covariance route (SPEC §8, issue 7).

Side by side in one process on one thread:
1. `analysis.cca.canonical_correlations` against `textbook_cca` (covariances, pseudo-
   inverses, eigen square roots, full SVD: the route of google/svcca, written here from the
   formula) at 64x5000, 256x20000 and 2048x10000: seconds (min over repeats, the two run
   alternately), the ratio, max |delta rho| and peak memory.
2. Y = W X with an ill-conditioned W: every rho is 1; how far each route lands from it.
3. Streaming (`CCAAccumulator`, fixed batch) against one-shot as n grows: peak memory and
   max |delta rho|.

Peak memory is tracemalloc's peak over the call, in a separate untimed run: every numpy
buffer (and LAPACK workspace scipy allocates through numpy) created during the call; the
inputs, made beforehand, are excluded, and so are OpenBLAS's internal fixed-size buffers.

Run from the repository root: python -m benchmarks.bench_cca [--repeats 3]
"""

import os

# One thread, before numpy loads its BLAS (the machine is shared and timings must compare).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402

from analysis.cca import canonical_correlations  # noqa: E402
from analysis.cca_streaming import CCAAccumulator  # noqa: E402


def textbook_cca(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Canonical correlations from the textbook formula.

    rho = singular values of Sxx^{-1/2} Sxy Syy^{-1/2}, with sample covariances, the inverse
    by pseudo-inverse and the square root by eigendecomposition.

    Args:
      x: (p, n), neurons by datapoints.
      y: (q, n).

    Returns:
      (min(p, q),) descending.
    """
    n = x.shape[1]
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    sxx = xc @ xc.T / (n - 1)
    syy = yc @ yc.T / (n - 1)
    sxy = xc @ yc.T / (n - 1)

    def psd_sqrt(a):
        w, v = np.linalg.eigh(a)
        return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T

    whitened = psd_sqrt(np.linalg.pinv(sxx)) @ sxy @ psd_sqrt(np.linalg.pinv(syy))
    return np.linalg.svd(whitened)[1][: min(x.shape[0], y.shape[0])]


def ours(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return canonical_correlations(x, y).rhos


def correlated_pair(p: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x (p, n) and y (p, n) = a random linear map of x plus noise: rhos spread over (0, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((p, n))
    y = rng.standard_normal((p, p)) @ x / np.sqrt(p) + 1.5 * rng.standard_normal((p, n))
    return x, y


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def peak_mib(fn, *args) -> float:
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def side_by_side(sizes, repeats: int) -> None:
    print("\n## CCA against the textbook route (seconds: min over repeats)\n")
    print("| p x n (p = q) | ours s | textbook s | ratio | max abs delta rho | ours MiB |", end="")
    print(" textbook MiB |")
    print("|---|---|---|---|---|---|---|")
    for p, n in sizes:
        x, y = correlated_pair(p, n, seed=p)
        times = {ours: [], textbook_cca: []}
        outs = {}
        for _ in range(repeats):
            for fn in times:
                seconds, outs[fn] = timed(fn, x, y)
                times[fn].append(seconds)
        delta = np.max(np.abs(outs[ours] - outs[textbook_cca]))
        mine, theirs = min(times[ours]), min(times[textbook_cca])
        print(
            f"| {p} x {n} | {mine:.3f} | {theirs:.3f} | {theirs / mine:.2f} | {delta:.1e} "
            f"| {peak_mib(ours, x, y):.0f} | {peak_mib(textbook_cca, x, y):.0f} |",
            flush=True,
        )


def ill_conditioned(p: int, n: int, conditions) -> None:
    print(f"\n## Y = W X, cond(W) given, {p} x {n}: every rho is exactly 1\n")
    print("| cond(W) | ours max abs(1 - rho) | ours s | textbook max abs(1 - rho) | textbook s |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((p, n))
    for cond in conditions:
        u = np.linalg.qr(rng.standard_normal((p, p)))[0]
        v = np.linalg.qr(rng.standard_normal((p, p)))[0]
        y = (u * np.logspace(0.0, -np.log10(cond), p)) @ v.T @ x
        cells = []
        for fn in (ours, textbook_cca):
            try:
                seconds, rhos = timed(fn, x, y)
                cells += [f"{np.max(np.abs(1.0 - rhos)):.1e}", f"{seconds:.3f}"]
            except np.linalg.LinAlgError as err:
                cells += [f"LinAlgError: {err}", "-"]
        print(f"| {cond:.0e} | " + " | ".join(cells) + " |", flush=True)


def streaming_memory(p: int, batch: int, counts) -> None:
    print(f"\n## Streaming vs one-shot, {p} x n (p = q), batches of {batch}\n")
    print("| n | streaming MiB | streaming s | one-shot MiB | one-shot s | max abs delta rho |")
    print("|---|---|---|---|---|---|")
    for n in counts:
        x, y = correlated_pair(p, n, seed=1)

        def stream(x=x, y=y, n=n):
            acc = CCAAccumulator(p, p)
            for start in range(0, n, batch):
                # A fresh copy per batch, as a real activation extractor would produce.
                acc.update(x[:, start : start + batch].copy(), y[:, start : start + batch].copy())
            return acc.result().rhos

        stream_s, stream_rhos = timed(stream)
        once_s, once_rhos = timed(ours, x, y)
        delta = np.max(np.abs(stream_rhos - once_rhos))
        print(
            f"| {n} | {peak_mib(stream):.1f} | {stream_s:.2f} | {peak_mib(ours, x, y):.1f} "
            f"| {once_s:.2f} | {delta:.1e} |",
            flush=True,
        )


def machine() -> str:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (
        f"{datetime.date.today()}, {model}, 1 thread, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64x5000,256x20000,2048x10000", help="p x n list")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each route")
    parser.add_argument("--skip-ill", action="store_true", help="skip the Y = W X table")
    parser.add_argument("--skip-streaming", action="store_true", help="skip the memory table")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    print(machine())
    side_by_side(sizes, args.repeats)
    if not args.skip_ill:
        ill_conditioned(256, 20000, (1e2, 1e6, 1e10))
    if not args.skip_streaming:
        streaming_memory(256, 5000, (20000, 80000, 320000))


if __name__ == "__main__":
    main()
