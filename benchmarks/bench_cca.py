"""CCA speed, accuracy and memory against google/svcca's algorithm (issue 7, issue 16).

Side by side in one process, on one thread, CPU time (`time.process_time`):
1. `analysis.cca.canonical_correlations` with its default method ("auto": the certified
   Gram/Cholesky route of `analysis.cca_gram`, else QR), the exact Householder route
   (method="qr"), and `svcca_reference` (google/svcca's `get_cca_similarity`, epsilon
   1e-10, rewritten here from its description) at 64x5000, 256x20000 and 2048x10000:
   seconds (min over repeats, the three run alternately), the ratios, max |delta rho|
   against the QR route, the route taken and peak memory.
2. Y = W X with an ill-conditioned W: every rho is 1; how far each method lands from it.
3. Streaming (`CCAAccumulator`, fixed batch) against one-shot as n grows: peak memory and
   max |delta rho|.

Peak memory is tracemalloc's peak over the call, in a separate untimed run: every numpy
buffer (and LAPACK workspace scipy allocates through numpy) created during the call; the
inputs, made beforehand, are excluded, and so are OpenBLAS's internal fixed-size buffers.

Run from the repository root: python -m benchmarks.bench_cca [--repeats 3]
"""

import os

# One thread, before numpy loads its BLAS (the machine is shared and timings must compare);
# threadpoolctl, when installed, also limits the BLAS scipy ships separately.
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

try:
    import threadpoolctl
except ImportError:  # the environment variables above then do the job alone
    threadpoolctl = None


def svcca_reference(x: np.ndarray, y: np.ndarray, epsilon: float = 1e-10) -> np.ndarray:
    """Canonical correlations by google/svcca's algorithm (cca_core.get_cca_similarity).

    Written from its published description, not copied: the covariance of the stacked
    activations (np.cov, ddof 1); each auto-covariance block divided by its largest
    magnitude and the cross block by the geometric mean of the two; neurons whose rescaled
    variance is below epsilon dropped (its dead-neuron rule); epsilon added to the
    diagonals; the inverse square roots as eigen square roots (eigh) of the pseudo-inverses
    (pinv); the full SVD (with vectors, as it computes them) of
    invsqrt_xx @ sigma_xy @ invsqrt_yy. Its coefficient bookkeeping (copies of O(p^2)
    arrays into masks) is left out, which only flatters it.

    Args:
      x: (p, n), neurons by datapoints.
      y: (q, n).

    Returns:
      (min(p', q'),) descending, p' and q' the neurons kept; NaN where a negative
      eigenvalue of a pseudo-inverse met the square root, as in the original.
    """
    p = x.shape[0]
    cov = np.cov(x, y)
    sxx, sxy, syy = cov[:p, :p], cov[:p, p:], cov[p:, p:]
    scale_x, scale_y = np.max(np.abs(sxx)), np.max(np.abs(syy))
    sxx, syy = sxx / scale_x, syy / scale_y
    sxy = sxy / np.sqrt(scale_x * scale_y)
    keep_x = np.abs(np.diag(sxx)) >= epsilon
    keep_y = np.abs(np.diag(syy)) >= epsilon
    sxx = sxx[np.ix_(keep_x, keep_x)] + epsilon * np.eye(int(keep_x.sum()))
    syy = syy[np.ix_(keep_y, keep_y)] + epsilon * np.eye(int(keep_y.sum()))
    sxy = sxy[np.ix_(keep_x, keep_y)]

    def eigen_sqrt(a):
        w, v = np.linalg.eigh(a)
        with np.errstate(invalid="ignore"):
            return v @ (np.sqrt(w)[:, None] * v.T)

    whitened = eigen_sqrt(np.linalg.pinv(sxx)) @ (sxy @ eigen_sqrt(np.linalg.pinv(syy)))
    return np.abs(np.linalg.svd(whitened)[1])


def ours(x: np.ndarray, y: np.ndarray):
    return canonical_correlations(x, y)


def ours_qr(x: np.ndarray, y: np.ndarray):
    return canonical_correlations(x, y, method="qr")


def correlated_pair(p: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x (p, n) and y (p, n) = a random linear map of x plus noise: rhos spread over (0, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((p, n))
    y = rng.standard_normal((p, p)) @ x / np.sqrt(p) + 1.5 * rng.standard_normal((p, n))
    return x, y


def timed(fn, *args) -> tuple[float, object]:
    """CPU seconds of one call (one thread: close to wall time on an idle core)."""
    start = time.process_time()
    out = fn(*args)
    return time.process_time() - start, out


def peak_mib(fn, *args) -> float:
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _rhos(out) -> np.ndarray:
    return out.rhos if hasattr(out, "rhos") else out


def side_by_side(sizes, repeats: int, memory: bool) -> None:
    print("\n## Ours (auto) vs our QR route vs google/svcca's algorithm (CPU s, min of repeats)\n")
    print(
        "| p x n (p = q) | ours s | route | QR s | svcca s | svcca / ours | QR / ours "
        "| max abs delta rho ours vs QR | svcca vs QR | ours MiB | QR MiB | svcca MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for p, n in sizes:
        x, y = correlated_pair(p, n, seed=p)
        methods = (ours, ours_qr, svcca_reference)
        times = {fn: [] for fn in methods}
        outs = {}
        for _ in range(repeats):
            for fn in methods:
                seconds, outs[fn] = timed(fn, x, y)
                times[fn].append(seconds)
        exact = _rhos(outs[ours_qr])
        delta = {fn: np.max(np.abs(_rhos(outs[fn]) - exact)) for fn in (ours, svcca_reference)}
        fast, qr, ref = (min(times[fn]) for fn in methods)
        mib = [f"{peak_mib(fn, x, y):.0f}" if memory else "-" for fn in methods]
        print(
            f"| {p} x {n} | {fast:.3f} | {outs[ours].route} | {qr:.3f} | {ref:.3f} "
            f"| **{ref / fast:.2f}** | {qr / fast:.2f} | {delta[ours]:.1e} "
            f"| {delta[svcca_reference]:.1e} | " + " | ".join(mib) + " |",
            flush=True,
        )


def ill_conditioned(p: int, n: int, conditions) -> None:
    print(f"\n## Y = W X, cond(W) given, {p} x {n}: every rho is exactly 1\n")
    print("| cond(W) | ours max abs(1 - rho) | route | ours s | svcca max abs(1 - rho) | svcca s |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((p, n))
    for cond in conditions:
        u = np.linalg.qr(rng.standard_normal((p, p)))[0]
        v = np.linalg.qr(rng.standard_normal((p, p)))[0]
        y = (u * np.logspace(0.0, -np.log10(cond), p)) @ v.T @ x
        seconds, result = timed(ours, x, y)
        cells = [f"{np.max(np.abs(1.0 - result.rhos)):.1e}", result.route, f"{seconds:.3f}"]
        try:
            seconds, rhos = timed(svcca_reference, x, y)
            cells += [f"{np.max(np.abs(1.0 - rhos)):.1e}", f"{seconds:.3f}"]
        except np.linalg.LinAlgError as err:
            cells += [f"LinAlgError: {err}", "-"]
        print(f"| {cond:.0e} | " + " | ".join(cells) + " |", flush=True)


def streaming_memory(p: int, batch: int, counts) -> None:
    print(f"\n## Streaming vs one-shot QR route, {p} x n (p = q), batches of {batch}\n")
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
        once_s, once = timed(ours_qr, x, y)
        delta = np.max(np.abs(stream_rhos - once.rhos))
        print(
            f"| {n} | {peak_mib(stream):.1f} | {stream_s:.2f} | {peak_mib(ours_qr, x, y):.1f} "
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
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    lines = [
        f"{datetime.date.today()}, CPU model: {model}, numpy {np.__version__} "
        f"(BLAS: {blas.get('name')} {blas.get('version')}), scipy {scipy.__version__}, "
        f"Python {platform.python_version()}"
    ]
    if threadpoolctl is not None:
        for pool in threadpoolctl.threadpool_info():
            lines.append(
                f"  thread pool: {pool['internal_api']} {pool.get('version')} "
                f"({os.path.basename(pool['filepath'])}): {pool['num_threads']} thread(s)"
            )
    else:
        lines.append("  threadpoolctl not installed: OMP/OPENBLAS/MKL_NUM_THREADS=1 only")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64x5000,256x20000,2048x10000", help="p x n list")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each method")
    parser.add_argument("--skip-memory", action="store_true", help="no peak-memory runs")
    parser.add_argument("--skip-ill", action="store_true", help="skip the Y = W X table")
    parser.add_argument("--skip-streaming", action="store_true", help="skip the memory table")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    if threadpoolctl is not None:
        threadpoolctl.threadpool_limits(1)
    print(machine())
    side_by_side(sizes, args.repeats, memory=not args.skip_memory)
    if not args.skip_ill:
        ill_conditioned(256, 20000, (1e2, 1e6, 1e10))
    if not args.skip_streaming:
        streaming_memory(256, 5000, (20000, 80000, 320000))


if __name__ == "__main__":
    main()
