"""The claims table's rules on hand-made run results (no training)."""

import math

import numpy as np
import pandas as pd
import pytest

from transfusion_tf.studies import claims, evidence
from transfusion_tf.studies.aggregate import RunResult
from transfusion_tf.studies.spec import RunSpec


def _run(group, seed, auc=None, aucs=None, *, subset=0, eval_every=10, total=40, kind=None):
    steps = [eval_every * (i + 1) for i in range(len(aucs or []))]
    config = {
        "seed": seed,
        "model": {"name": group.split("/")[0]},
        "init": {"kind": kind or group.split("/")[1]},
        "data": {"train_subset": subset, "root": "/nowhere"},
        "train": {"eval_every": eval_every, "total_steps": total},
    }
    return RunResult(
        spec=RunSpec(f"{group}_{seed}", "x.py", group=group),
        path="/nowhere",
        config=config,
        main_metric="auc",
        eval_log=pd.DataFrame({"step": steps, "auc": aucs}) if aucs else pd.DataFrame(),
        split="test",
        test={} if auc is None else {"auc": auc},
    )


def _verdict(check, results, found=None):
    return check(results, found or evidence.AnalysisEvidence(thresholds=(0.8, 0.9)))


def test_estimate_is_the_mean_and_its_standard_error_over_seeds():
    e = claims.estimate([0.90, 0.92, 0.94])
    assert e.mean == pytest.approx(0.92) and e.n == 3
    assert e.se == pytest.approx(0.02 / math.sqrt(3))
    one = claims.estimate([0.9], [(0.86, 0.94)])  # One seed: the bootstrap CI / 3.92.
    assert one.se == pytest.approx(0.08 / 3.92)
    diff = claims.estimate([1.0, 3.0]).minus(claims.estimate([0.0, 2.0]))
    assert diff.mean == 1.0 and diff.se == pytest.approx(math.hypot(1.0, 1.0))


def test_transfer_adds_little_by_the_margin_rule():
    close = [_run("m/random", s, 0.900 + 0.002 * s) for s in range(3)]
    close += [_run("m/imagenet", s, 0.903 + 0.002 * s) for s in range(2)]
    row = _verdict(claims.transfer_adds_little, close)
    assert row.verdict == claims.SUPPORTED
    assert row.numbers.startswith("m: +0.002 (")  # 0.904 - 0.902
    far = [r for r in close if r.arm == "random"] + [_run("m/imagenet", s, 0.95) for s in (0, 1)]
    far[-1].test["auc"] = 0.951
    assert _verdict(claims.transfer_adds_little, far).verdict == claims.CONTRADICTED
    noisy = [_run("m/random", s, a) for s, a in enumerate((0.6, 0.9, 0.75))]
    noisy += [_run("m/imagenet", s, a) for s, a in enumerate((0.7, 0.8))]
    assert _verdict(claims.transfer_adds_little, noisy).verdict == claims.INCONCLUSIVE
    subset_only = [_run("m/random", 0, 0.9, subset=100), _run("m/imagenet", 0, 0.9, subset=100)]
    assert _verdict(claims.transfer_adds_little, subset_only).verdict == claims.NOT_RUN


def test_small_data_claim_reads_only_subset_runs():
    runs = [_run("m/random", s, 0.80 + 0.001 * s, subset=100) for s in range(3)]
    runs += [_run("m/imagenet", s, 0.85 + 0.001 * s, subset=100) for s in range(3)]
    assert _verdict(claims.transfer_helps_small_data, runs).verdict == claims.SUPPORTED
    worse = [_run(r.group, r.seed, 1.65 - r.test["auc"], subset=100) for r in runs]
    assert _verdict(claims.transfer_helps_small_data, worse).verdict == claims.CONTRADICTED


def test_mean_var_steps_with_censoring_and_the_resolution():
    fast = [0.5, 0.85, 0.9, 0.9]  # Reaches 0.8 at 20 and 0.9 at 30.
    slow = [0.5, 0.6, 0.7, 0.85]  # Reaches 0.8 at 40, never 0.9.
    runs = [_run("m/random", s, aucs=slow) for s in range(3)]
    runs += [_run("m/mean_var", s, aucs=fast) for s in range(2)]
    row = _verdict(claims.mean_var_speeds_up, runs)
    # 0.9: half of the five runs did not reach it, so the threshold is 0.8: 40 vs 20 steps.
    assert "m to 0.8: random 40, Mean Var 20 steps" in row.numbers
    assert row.verdict == claims.SUPPORTED
    one_interval = [_run("m/random", s, aucs=[0.5, 0.5, 0.85, 0.9]) for s in range(3)]
    one_interval += [_run("m/mean_var", s, aucs=[0.5, 0.85, 0.85, 0.9]) for s in range(2)]
    # 10 steps saved = one evaluation interval: not resolved.
    assert _verdict(claims.mean_var_speeds_up, one_interval).verdict == claims.INCONCLUSIVE
    censored = [_run("m/random", s, aucs=[0.5] * 4) for s in range(2)]
    censored += [_run("m/mean_var", s, aucs=[0.5, 0.5, 0.5, 0.9]) for s in range(2)]
    # Random never reaches 0.8: counted as 40 + 10, so Mean Var (40) saved 10: unresolved.
    assert "random 50, Mean Var 40" in _verdict(claims.mean_var_speeds_up, censored).numbers


def test_transfusion_and_hybrid_rules():
    runs = [_run("m/random", s, aucs=[0.5] * 8, total=80) for s in range(2)]
    runs[0].eval_log.loc[7, "auc"] = runs[1].eval_log.loc[7, "auc"] = 0.95  # 80 steps.
    runs += [_run("m/imagenet", s, aucs=[0.5, 0.95] + [0.95] * 6, total=80) for s in range(2)]
    runs += [_run("m/transfusion_block1", s, aucs=[0.5, 0.5, 0.95] + [0.95] * 5, total=80)
             for s in range(2)]  # fmt: skip
    row = _verdict(claims.lower_blocks_give_the_speedup, runs)
    # Saving 50 of transfer's 60 steps: 50 - 30 = 20 > one interval (10).
    assert "random 80, transfusion_block1 30, transfer 20" in row.numbers
    assert row.verdict == claims.SUPPORTED
    runs += [_run("m/hybrid_slim", s, aucs=[0.5, 0.95] + [0.95] * 6, total=80) for s in range(2)]
    assert _verdict(claims.hybrid_matches_transfer, runs).verdict == claims.SUPPORTED
    assert _verdict(claims.hybrid_matches_transfer, runs[:6]).verdict == claims.NOT_RUN


def test_representation_claims_need_the_floor():
    boxes = {
        "random_vs_random": evidence.Comparison((0.60, 0.61, 0.62), (0.30, 0.31, 0.30)),
        "random_vs_pretrained": evidence.Comparison((0.50, 0.51, 0.52, 0.50), (0.3,) * 4),
    }
    found = evidence.AnalysisEvidence(thresholds=(0.9,), fig2={"m": boxes})
    row = claims.representations_differ_higher_up([], found)
    assert row.verdict == claims.SUPPORTED
    # Above the floors: rr (.30, .30, .32), rp (.20, .21, .22, .20): gap .0992, SE .0082.
    assert row.numbers == "m: rr 0.610 vs rp 0.508 (floor 0.303), gap +0.099 ± 0.008"
    at_floor = {k: evidence.Comparison(b.values, b.values) for k, b in boxes.items()}
    found.fig2 = {"m": at_floor}  # Random-vs-random at its floor: nothing to compare.
    assert claims.representations_differ_higher_up([], found).verdict == claims.INCONCLUSIVE
    found.fig3_drop = {"m": [0.2, 0.25, 0.3]}
    assert claims.lower_layers_move_less([], found).verdict == claims.SUPPORTED
    found.fig3_drop = {"m": [-0.2, 0.25, 0.0]}
    assert claims.lower_layers_move_less([], found).verdict == claims.INCONCLUSIVE


def test_every_claim_has_a_row_and_an_empty_study_runs_none():
    rows = claims.evaluate_claims([], evidence.AnalysisEvidence())
    assert len(rows) == 7 and {r.verdict for r in rows} == {claims.NOT_RUN}
    assert all(r.rule for r in rows)
    assert np.isnan(claims.estimate([]).mean)
