"""Our random init and L2 term against the real slim graphs (ResNet-50 v1, Inception-v3).

Slim's graphs are built with `tf_slim.nets` under their own arg scopes
(`slim_weights.slim_compat`) and their initialisers run with a different seed from ours
(in the session's reference runs, `tests/slim_runs.py`, which also give slim's L2 term of
their random weights), so kernels can only agree in distribution. The statistics, per
kernel tensor of N values (sigma: its standard deviation, estimated from the two samples):

- the two sample means differ by N(0, (s_ours^2 + s_slim^2) / N);
- the two sample standard deviations by about N(0, (s_ours^2 + s_slim^2) / (2 N)), the
  normal-kurtosis value, conservative for a truncated normal (kurtosis 2.37 < 3);
- allowed: z standard errors with z = Phi^-1(1 - alpha / (2 m)), m = 2 x (number of kernels)
  tests and a family-wise false-failure rate alpha = 1e-6 (Bonferroni): z ~ 5.8-5.9 here.

Per tensor these cannot see slim's 0.3% (sqrt(1.3 * 0.8796^2) = 1.0029) departure from He's
sqrt(2 / fan_in); two sharper checks can, and are shown to reject Keras' own He initialiser:

- pooled: R = sum_i N_i (s_ours,i / s_slim,i - 1) / sum_i N_i has standard error
  1 / sqrt(sum N_i) (about 2e-4 here); |R| <= 5 of them;
- truncation: slim cuts at two of its parameter sqrt(1.3 * 2 / fan_in) (0.01, 0.001 for the
  aux head), so every |w| stays below that bound, and a tensor of N >= 1e6 values reaches
  within 1e-4 of it: a value lands in that last 1e-4 with probability 2 x 2e-4 x
  phi(2) / (Phi(2) - Phi(-2)) = 2.3e-5, so missing it has probability e^-22.6.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from slim_weights import loading
from tests import shared_models, slim_runs
from tests.tolerances import UNIT_ROUNDOFF

pytestmark = pytest.mark.slow  # Full-size networks and slim graphs: seconds each.

FAMILY_ALPHA = 1e-6
POOLED_Z = 5.0
TOP_GAP = 1e-4
LAM = 4.0  # Standard deviations allowed in statistical rounding-error bounds.
# Kernels slim's inception_v3 initialises itself, overriding the arg scope: trunc_normal(s).
AUX_TRUNC_NORMAL = {
    "InceptionV3/AuxLogits/Conv2d_2a_5x5/weights": 0.01,
    "InceptionV3/AuxLogits/Conv2d_2b_1x1/weights": 0.001,
}
MODELS = {
    "resnet_v1_50": {
        "slim": slim_runs.RESNET_V1_50,
        "ours": shared_models.RESNET,
        "weight_decay": 1e-4,
    },
    "inception_v3": {
        "slim": slim_runs.INCEPTION_V3,
        # The aux head's 5x5 kernel is sized for 299 px (slim: 5x5 at unknown sizes too).
        "ours": shared_models.INCEPTION_AUX,
        "weight_decay": 4e-5,
    },
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def pair(request, tmp_path_factory):
    """One model: slim's initial values, ours, and both L2 terms on the same random weights."""
    name = request.param
    spec = MODELS[name]
    run = slim_runs.session_run(tmp_path_factory, spec["slim"])
    values, slim_initial = run["values"], run["initial"]
    # Built after tf.keras.utils.set_random_seed(shared_models.SEED); slim's graph seed is
    # slim_runs.SLIM_INIT_SEED.
    model = shared_models.shared_model(spec["ours"])
    initial = shared_models.initial_values(spec["ours"]).items()
    ours_initial = {loading.slim_name(keras_name): value for keras_name, value in initial}
    regularized = {
        loading.slim_name(layer.kernel.name)
        for layer in model.layers
        if getattr(layer, "kernel_regularizer", None) is not None
    }
    loading.load_into(model, values)
    return {
        "name": name,
        "slim": slim_initial,
        "ours": ours_initial,
        # In float64 once for the file: tens of millions of values, read by several tests.
        "slim_kernels": _kernels(slim_initial),
        "our_kernels": _kernels(ours_initial),
        "values": values,
        "slim_loss": run["regularization_loss"],
        "our_loss": float(tf.add_n(model.losses)),
        "slim_regularized": run["regularized"],
        "our_regularized": regularized,
    }


def _kernels(values):
    return {n: np.asarray(v, np.float64).ravel() for n, v in values.items() if _is_kernel(n)}


def _is_kernel(name):
    return name.endswith("/weights")


def _trunc_parameter(name, shape):
    """slim's truncated-normal parameter (the cut is at twice it), from slim's source."""
    if name in AUX_TRUNC_NORMAL:
        return AUX_TRUNC_NORMAL[name]
    return math.sqrt(1.3 * 2.0 / math.prod(shape[:-1]))  # variance_scaling_initializer()


def _sample_mismatches(ours, slim):
    """Kernels whose sample mean or std differ beyond z standard errors (z: Bonferroni)."""
    z = scipy.stats.norm.isf(FAMILY_ALPHA / (2 * 2 * len(slim)))
    bad = []
    for name, ref in slim.items():
        n = ref.size
        (mean, std), (ref_mean, ref_std) = (_mean_std(ours[name]), _mean_std(ref))
        variance = std**2 + ref_std**2
        mean_gap, std_gap = abs(mean - ref_mean), abs(std - ref_std)
        if mean_gap > z * math.sqrt(variance / n) or std_gap > z * math.sqrt(variance / (2 * n)):
            bad.append(f"{name}: mean {mean:.3g} vs {ref_mean:.3g}, std {std:.4g} vs {ref_std:.4g}")
    return bad


def _mean_std(values):
    """(mean, population std) of a float64 array, the mean computed once."""
    centred = values - values.mean()
    return values.mean(), math.sqrt(np.dot(centred, centred) / values.size)


def _pooled_std_ratio(ours, slim):
    """(R, its standard error): the size-weighted mean of s_ours / s_slim - 1."""
    sizes = np.array([slim[n].size for n in slim], np.float64)
    ratios = np.array([ours[n].std() / slim[n].std() - 1 for n in slim])
    return float(np.sum(sizes * ratios) / sizes.sum()), float(1 / math.sqrt(sizes.sum()))


def _truncation_failures(kernels, shapes):
    """Kernels exceeding slim's cut, or (N >= 1e6) not reaching within TOP_GAP of it."""
    bad = []
    for name, values in kernels.items():
        bound = 2 * _trunc_parameter(name, shapes[name])
        top = float(np.abs(values).max())
        if top > bound * (1 + 4 * UNIT_ROUNDOFF):
            bad.append(f"{name}: max |w| {top:.6g} above the cut {bound:.6g}")
        elif values.size >= 1_000_000 and top < bound * (1 - TOP_GAP):
            bad.append(f"{name}: max |w| {top:.6g} short of the cut {bound:.6g}")
    return bad


def _l2_tolerance(sizes, total):
    """Bound on |ours - slim| for two float32 computations of sum_i decay * l2_loss(w_i).

    The worst-case bound (`reduction_atol`) is void for these sums (n u >= 1 for the 25M
    squares; still 15% for one 2.4M-value kernel), so this is Higham and Mary's statistical
    one (see tests/tolerances.py): per tensor lam sqrt(N_i + 2) u of its term (squares, sum,
    scale), plus lam sqrt(K) u of the total for the sum over the K tensors; terms are
    positive, so the total is their magnitude. Twice that, for two computations.
    """
    return 2 * LAM * (math.sqrt(max(sizes) + 2) + math.sqrt(len(sizes))) * UNIT_ROUNDOFF * total


def test_same_variables_and_shapes_as_slims_graph(pair):
    assert sorted(pair["ours"]) == sorted(pair["slim"])
    for name, value in pair["slim"].items():
        # Our logits are Dense: slim's (1, 1, 2048, C) kernel without its singleton axes.
        assert pair["ours"][name].size == value.size, name


def test_every_kernel_matches_slims_mean_and_std(pair):
    slim, ours = pair["slim_kernels"], pair["our_kernels"]
    assert len(slim) == {"resnet_v1_50": 54, "inception_v3": 98}[pair["name"]]
    assert _sample_mismatches(ours, slim) == []
    ratio, error = _pooled_std_ratio(ours, slim)
    assert abs(ratio) <= POOLED_Z * error, (ratio, error)


def test_every_kernel_is_cut_where_slims_are(pair):
    shapes = {n: v.shape for n, v in pair["slim"].items()}
    assert _truncation_failures(pair["slim_kernels"], shapes) == []
    assert _truncation_failures(pair["our_kernels"], shapes) == []


def test_the_sharp_checks_reject_keras_he_normal(pair):
    """Keras' HeNormal (std exactly sqrt(2 / fan_in)) is 0.3% narrower than slim's draw."""
    shapes = {n: v.shape for n, v in pair["slim"].items()}
    slim = {n: v for n, v in pair["slim_kernels"].items() if n not in AUX_TRUNC_NORMAL}
    he = {
        n: tf.keras.initializers.HeNormal(seed=i)(shapes[n]).numpy().astype(np.float64).ravel()
        for i, n in enumerate(slim)
    }
    ratio, error = _pooled_std_ratio(he, slim)
    assert ratio < -POOLED_Z * error
    assert _truncation_failures(he, shapes)


def test_batch_norm_and_biases_start_exactly_as_slims(pair):
    others = [n for n in pair["slim"] if not _is_kernel(n)]
    leaves = {n.rsplit("/", 1)[1] for n in others}
    assert leaves == (
        {"beta", "gamma", "moving_mean", "moving_variance", "biases"}
        if pair["name"] == "resnet_v1_50"
        else {"beta", "moving_mean", "moving_variance", "biases"}
    )
    for name in others:
        np.testing.assert_array_equal(
            pair["ours"][name].reshape(pair["slim"][name].shape), pair["slim"][name], name
        )


def test_l2_term_equals_slims_regularization_loss(pair):
    assert pair["our_regularized"] == pair["slim_regularized"]
    assert pair["our_regularized"] == set(pair["slim_kernels"])
    sizes = [pair["values"][n].size for n in pair["slim_regularized"]]
    tolerance = _l2_tolerance(sizes, pair["slim_loss"])
    print(
        pair["name"],
        abs(pair["our_loss"] - pair["slim_loss"]) / pair["slim_loss"],
        tolerance / pair["slim_loss"],
    )
    assert abs(pair["our_loss"] - pair["slim_loss"]) <= tolerance
    # And both are the hand computation weight_decay * sum(w**2) / 2, in float64.
    expected = MODELS[pair["name"]]["weight_decay"] * sum(
        np.sum(np.square(pair["values"][n], dtype=np.float64)) / 2 for n in pair["slim_regularized"]
    )
    assert abs(pair["our_loss"] - expected) <= tolerance
