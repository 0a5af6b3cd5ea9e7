"""The paper's claims, each tested against a study's saved results with a stated rule.

Every claim row names the numbers that test it (means over seeds with their spread) and a
verdict: `supported`, `contradicted` or `inconclusive` by the rule in the row, or
`not run` when the study has no runs that test it. Uncertainty is the standard error of a
difference of group means over seeds, sqrt(s_a^2 / n_a + s_b^2 / n_b); a group of one run
uses its bootstrap CI half-width / 1.96 instead, and a difference is "resolved" when it
exceeds twice its standard error (about a 95% interval). Steps to a threshold are
resolved only to the evaluation interval, so differences of steps must also exceed it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from transfusion_tf.studies import aggregate, evidence
from transfusion_tf.studies.aggregate import RunResult

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = (
    "supported",
    "contradicted",
    "inconclusive",
    "not run",
)
EQUIVALENCE_MARGIN = 0.01  # AUC: "adds little" means within one AUC point.


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A group mean over seeds with its standard error."""

    mean: float
    se: float
    n: int

    def minus(self, other: Estimate) -> Estimate:
        return Estimate(self.mean - other.mean, math.hypot(self.se, other.se), min(self.n, other.n))

    def interval(self) -> tuple[float, float]:
        return self.mean - 2 * self.se, self.mean + 2 * self.se


@dataclasses.dataclass(frozen=True)
class ClaimRow:
    claim: str
    source: str  # Where the paper shows it.
    numbers: str
    verdict: str
    rule: str


def estimate(values: Sequence[float], ci: Sequence[tuple[float, float]] = ()) -> Estimate:
    """Mean and standard error over seeds (one seed: its bootstrap CI half-width / 1.96)."""
    values = [float(v) for v in values]
    if len(values) > 1:
        return Estimate(
            float(np.mean(values)),
            aggregate.sample_std(values) / math.sqrt(len(values)),
            len(values),
        )
    if len(values) == 1:
        low, high = ci[0] if ci else (float("nan"), float("nan"))
        return Estimate(values[0], (high - low) / (2 * 1.96), 1)
    return Estimate(float("nan"), float("nan"), 0)


def evaluate_claims(
    results: list[RunResult], analyses: evidence.AnalysisEvidence
) -> list[ClaimRow]:
    """One row per claim of the paper, in the order the paper makes them."""
    return [check(results, analyses) for check in CHECKS]


def _final_metric_by_arm(results, *, small_data: bool) -> dict[str, dict[str, RunResult]]:
    """panel -> arm -> runs, for panels trained on all data (or on a subset)."""
    panels: dict[str, dict[str, list[RunResult]]] = {}
    for r in results:
        if r.main_metric == "accuracy" or (r.train_subset > 0) != small_data:
            continue
        panels.setdefault(r.panel, {}).setdefault(r.arm, []).append(r)
    return panels


def _metric_estimate(runs: list[RunResult]) -> Estimate:
    key = runs[0].main_metric
    scored = [r for r in runs if key in r.test]
    ci = [
        (r.test.get(f"{key}_ci_low", np.nan), r.test.get(f"{key}_ci_high", np.nan)) for r in scored
    ]
    return estimate([r.test[key] for r in scored], ci)


def _transfer_differences(results, *, small_data: bool) -> dict[str, tuple[Estimate, Estimate]]:
    """panel -> (transfer - random on the held-out metric, the random arm's estimate)."""
    out = {}
    for panel, arms in _final_metric_by_arm(results, small_data=small_data).items():
        if "random" in arms and "imagenet" in arms:
            random = _metric_estimate(arms["random"])
            out[panel] = (_metric_estimate(arms["imagenet"]).minus(random), random)
    return out


def _describe(panel: str, diff: Estimate, base: Estimate) -> str:
    low, high = diff.interval()
    return f"{panel}: {diff.mean:+.3f} ({low:+.3f} to {high:+.3f}) over random {base.mean:.3f}"


# What one panel (a model, a dataset) of a claim shows: (its numbers, its verdict).
Judged = tuple[str, str]


def _row(claim: str, source: str, rule: str, judged: list[Judged], combine=None) -> ClaimRow:
    """A claim's row: the panels' numbers and their verdicts combined (default `_combine`)."""
    verdicts = [verdict for _, verdict in judged]
    numbers = "; ".join(text for text, _ in judged)
    return ClaimRow(claim, source, numbers, (combine or _combine)(verdicts), rule)


def _within(diff: Estimate, margin: float) -> str:
    """Equivalence: diff ± 2 SE inside ±margin supports; wholly above +margin contradicts."""
    low, high = diff.interval()
    if -margin <= low and high <= margin:
        return SUPPORTED
    return CONTRADICTED if low > margin else INCONCLUSIVE


def _beyond(value: float, bar: float) -> str:
    """A gain: above +bar supports, below -bar contradicts, in between is inconclusive."""
    return SUPPORTED if value > bar else CONTRADICTED if value < -bar else INCONCLUSIVE


def transfer_adds_little(results, analyses) -> ClaimRow:
    diffs = _transfer_differences(results, small_data=False)
    margin = EQUIVALENCE_MARGIN
    rule = (
        f"transfer - random held-out main metric, ± 2 SE over seeds, within ±{margin} "
        f"for every model: supported; above +{margin} for one: contradicted; else inconclusive"
    )
    judged = [(_describe(p, d, b), _within(d, margin)) for p, (d, b) in diffs.items()]
    return _row("Transfer adds little at full data", "Tables 1-2", rule, judged)


def transfer_helps_small_data(results, analyses) -> ClaimRow:
    rule = (
        "transfer - random held-out main metric on the training subset, ± 2 SE: above 0 "
        "for some model and below 0 for none: supported; at or below 0 for every model: "
        "contradicted; else inconclusive"
    )
    judged = []
    for panel, (diff, base) in _transfer_differences(results, small_data=True).items():
        low, high = diff.interval()
        verdict = SUPPORTED if low > 0 else CONTRADICTED if high <= 0 else INCONCLUSIVE
        judged.append((_describe(panel, diff, base), verdict))
    return _row("Transfer helps in the small-data regime", "Table 3", rule, judged, _combine_some)


def representations_differ_higher_up(results, analyses) -> ClaimRow:
    rule = (
        "Fig 2, mean CCA of the top two stages above its null floor: random-vs-random minus "
        "random-vs-pretrained above 2 SE over pairs, with random-vs-random above its floor "
        "by 2 SE: supported; below -2 SE: contradicted; else inconclusive"
    )
    judged = [_fig2_network(name, fig2) for name, fig2 in analyses.fig2.items()]
    judged = [j for j in judged if j is not None]
    return _row(
        "Pretrained and random representations differ mainly in higher layers",
        "Fig 2",
        rule,
        judged,
        _combine_any,
    )


def _fig2_network(name: str, fig2) -> Judged | None:
    """One network's Fig 2 gap: random-vs-random minus random-vs-pretrained, above floor."""
    rr, rp = fig2.get("random_vs_random"), fig2.get("random_vs_pretrained")
    if rr is None or rp is None:
        return None
    above = estimate(rr.above_floor)
    gap = above.minus(estimate(rp.above_floor))
    numbers = (
        f"{name}: rr {rr.mean:.3f} vs rp {rp.mean:.3f} (floor {rr.floor:.3f}), "
        f"gap {gap.mean:+.3f} ± {gap.se:.3f}"
    )
    if gap.mean > 2 * gap.se and above.mean > 2 * above.se:
        return numbers, SUPPORTED
    return numbers, CONTRADICTED if gap.mean < -2 * gap.se else INCONCLUSIVE


def lower_layers_move_less(results, analyses) -> ClaimRow:
    rule = (
        "Fig 3, mean CCA above the floor of each network at init vs after training: lowest "
        "endpoint minus highest, mean ± 2 SE over networks above 0: supported; below 0: "
        "contradicted; else inconclusive"
    )
    judged = []
    for name, per_network in analyses.fig3_drop.items():
        if len(per_network) < 2:
            continue
        drop = estimate(per_network)
        low, high = drop.interval()
        numbers = f"{name}: {drop.mean:+.3f} ({low:+.3f} to {high:+.3f}), n={drop.n}"
        judged.append(
            (numbers, SUPPORTED if low > 0 else CONTRADICTED if high < 0 else INCONCLUSIVE)
        )
    return _row("Lower layers move less through training", "Fig 3", rule, judged)


def _steps_estimate(runs: list[RunResult], threshold: float) -> Estimate:
    """Steps to `threshold` over seeds; a seed that never reached it counts as the budget
    plus one evaluation interval (a lower bound: the estimate favours the slower arm)."""
    steps = [r.steps_to(threshold) or r.total_steps + r.eval_every for r in runs]
    return estimate(steps)


def _convergence_arms(results) -> dict[str, dict[str, list[RunResult]]]:
    panels: dict[str, dict[str, list[RunResult]]] = {}
    for r in results:
        if r.main_metric != "accuracy" and not r.eval_log.empty:
            panels.setdefault(r.panel, {}).setdefault(r.arm, []).append(r)
    return panels


def _threshold(arms: dict[str, list[RunResult]], names: Sequence[str], thresholds) -> float:
    """The highest threshold at least half of the compared runs reached (else the lowest)."""
    runs = [r for n in names for r in arms[n]]
    for t in sorted(thresholds, reverse=True):
        if sum(r.steps_to(t) is not None for r in runs) * 2 >= len(runs):
            return t
    return min(thresholds)


def _per_convergence_panel(results, analyses, judge) -> list[Judged]:
    """`judge(panel, arms, thresholds)` of every panel with eval logs it does not skip (None)."""
    judged = [
        judge(panel, arms, analyses.thresholds)
        for panel, arms in _convergence_arms(results).items()
    ]
    return [j for j in judged if j is not None]


def mean_var_speeds_up(results, analyses) -> ClaimRow:
    rule = (
        "steps to the highest threshold half the runs reach (never reached = budget + one "
        "interval): random - Mean Var above max(2 SE, the evaluation interval): supported; "
        "below minus that: contradicted; else inconclusive"
    )
    judged = _per_convergence_panel(results, analyses, _mean_var_panel)
    return _row("Mean Var Init converges faster than random init", "Fig 6", rule, judged)


def _mean_var_panel(panel: str, arms, thresholds) -> Judged | None:
    if not {"random", "mean_var"} <= set(arms):
        return None
    t = _threshold(arms, ("random", "mean_var"), thresholds)
    random, mean_var = _steps_estimate(arms["random"], t), _steps_estimate(arms["mean_var"], t)
    saved = random.minus(mean_var)
    interval = arms["random"][0].eval_every
    numbers = (
        f"{panel} to {t}: random {random.mean:.0f}, Mean Var {mean_var.mean:.0f} steps "
        f"(saved {saved.mean:+.0f} ± {saved.se:.0f}; resolution {interval})"
    )
    return numbers, _beyond(saved.mean, max(2 * saved.se, interval))


LOW_TRANSFUSION = ("transfusion_block1", "up_to_block1", "up_to_conv1", "up_to_block2")


def lower_blocks_give_the_speedup(results, analyses) -> ClaimRow:
    rule = (
        "steps (as for Mean Var) with transfusion up to block1 (else conv1, block2): its "
        "saving over random minus half of full transfer's saving above max(2 SE, the "
        "interval): supported; below minus that: contradicted; else inconclusive"
    )
    judged = _per_convergence_panel(results, analyses, _low_transfusion_panel)
    return _row("Transfusing the lowest blocks gives most of the speed-up", "Fig 7", rule, judged)


def _low_transfusion_panel(panel: str, arms, thresholds) -> Judged | None:
    low = next((a for a in LOW_TRANSFUSION if a in arms), None)
    if low is None or not {"random", "imagenet"} <= set(arms):
        return None
    t = _threshold(arms, ("random", "imagenet", low), thresholds)
    s_random, s_low, s_transfer = (_steps_estimate(arms[a], t) for a in ("random", low, "imagenet"))
    excess = s_random.mean - s_low.mean - 0.5 * (s_random.mean - s_transfer.mean)
    se = math.sqrt(0.25 * s_random.se**2 + s_low.se**2 + 0.25 * s_transfer.se**2)
    numbers = (
        f"{panel} to {t}: random {s_random.mean:.0f}, {low} {s_low.mean:.0f}, "
        f"transfer {s_transfer.mean:.0f} steps"
    )
    return numbers, _beyond(excess, max(2 * se, arms["random"][0].eval_every))


def hybrid_matches_transfer(results, analyses) -> ClaimRow:
    rule = (
        "steps (as for Mean Var): hybrid - transfer ± 2 SE within ±max(10% of transfer's "
        "steps, the interval): supported; above it: contradicted; else inconclusive"
    )
    judged = _per_convergence_panel(results, analyses, _hybrid_panel)
    return _row(
        "A slim random top on pretrained lower blocks matches transfer", "Fig 8", rule, judged
    )


def _hybrid_panel(panel: str, arms, thresholds) -> Judged | None:
    if not {"hybrid_slim", "imagenet"} <= set(arms):
        return None
    t = _threshold(arms, ("hybrid_slim", "imagenet"), thresholds)
    hybrid, transfer = _steps_estimate(arms["hybrid_slim"], t), _steps_estimate(arms["imagenet"], t)
    margin = max(0.1 * transfer.mean, arms["imagenet"][0].eval_every)
    numbers = f"{panel} to {t}: hybrid {hybrid.mean:.0f}, transfer {transfer.mean:.0f} steps"
    return numbers, _within(hybrid.minus(transfer), margin)


def _combine(verdicts: list[str]) -> str:
    """Every panel supports: supported; any contradicts: contradicted; none: not run."""
    if not verdicts:
        return NOT_RUN
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


def _combine_any(verdicts: list[str]) -> str:
    """A claim about some models (the paper's large ones): one support and no contradiction."""
    if not verdicts:
        return NOT_RUN
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return SUPPORTED if SUPPORTED in verdicts else INCONCLUSIVE


def _combine_some(verdicts: list[str]) -> str:
    """Helps somewhere: some panel supports and none contradicts; contradicted only when
    every panel contradicts."""
    if not verdicts:
        return NOT_RUN
    if SUPPORTED in verdicts and CONTRADICTED not in verdicts:
        return SUPPORTED
    return CONTRADICTED if all(v == CONTRADICTED for v in verdicts) else INCONCLUSIVE


CHECKS: tuple[Callable[..., ClaimRow], ...] = (
    transfer_adds_little,
    transfer_helps_small_data,
    representations_differ_higher_up,
    lower_layers_move_less,
    mean_var_speeds_up,
    lower_blocks_give_the_speedup,
    hybrid_matches_transfer,
)
