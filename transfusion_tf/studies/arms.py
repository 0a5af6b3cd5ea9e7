"""What each arm of a study is, in words a reader can check: "random init", "ImageNet (TF-Slim
checkpoint)", "source-pretrained (synthetic, 15.7% top-1, chance 8.3%)".

An arm pretrained on a synthetic source task is never called ImageNet; its source run's
held-out top-1 accuracy and the task's chance level go with its name.
"""

from __future__ import annotations

import dataclasses

from transfusion_tf.studies import state
from transfusion_tf.studies.aggregate import RunResult


@dataclasses.dataclass(frozen=True)
class Source:
    """A source-task pretraining run of the study, as the arms that start from it cite it."""

    model: str
    synthetic: bool
    accuracy: float  # Held-out top-1 (NaN if not evaluated).
    classes: int

    @property
    def chance(self) -> float:
        return 1.0 / self.classes

    def describe(self) -> str:
        kind = "synthetic, " if self.synthetic else ""
        name = "source-pretrained" if self.synthetic else "ImageNet-pretrained here"
        return f"{name} ({kind}{self.accuracy:.1%} top-1, chance {self.chance:.1%})"


def sources(results: list[RunResult]) -> dict[str, Source]:
    """model -> its source-pretraining run (runs whose main metric is top-1 accuracy)."""
    found = {}
    for r in results:
        if r.main_metric != "accuracy":
            continue
        model = r.config["model"]["name"]
        found[model] = Source(
            model=model,
            synthetic=state.is_synthetic(r.config["data"]["root"]),
            accuracy=float(r.test.get("accuracy", float("nan"))),
            classes=int(r.config["task_options"]["num_classes"]),
        )
    return found


def describe(result: RunResult, sources_by_model: dict[str, Source]) -> str:
    """The start of a run's weights, from its config (and its source run, for a CBR)."""
    init = result.config["init"]
    kind = init["kind"]
    pretrained = _pretrained(result, sources_by_model)
    if kind == "random":
        return "random init"
    if kind == "imagenet":
        return pretrained
    if kind == "mean_var":
        bn = {"identity": "", "resample": ", BN resampled", "copy": ", BN copied"}
        return f"Mean Var Init of the {pretrained} weights{bn.get(init.get('bn_mode'), '')}"
    if kind == "transfusion":
        return f"{pretrained} up to {init['up_to']}, rest random"
    if kind == "hybrid_slim":
        top = init.get("up_to") or "block2"
        return f"{pretrained} up to {top}, {init['width_factor']}-width random top"
    if kind == "gabor_conv1":
        return "synthetic Gabor conv1, rest random"
    return kind


def _pretrained(result: RunResult, sources_by_model: dict[str, Source]) -> str:
    model = result.config["model"]["name"]
    if result.config["init"].get("checkpoint"):
        return "ImageNet (TF-Slim checkpoint)"
    if model in sources_by_model:
        return sources_by_model[model].describe()
    return "registered pretrained weights"
