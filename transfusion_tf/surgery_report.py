"""What a weight surgery did: every model variable once, and the unused pretrained ones.

`SurgeryReport.to_json()` is the `surgery` section of a run's `init_report.json`.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class VariableAction:
    """What happened to one model variable.

    Attributes:
      name: the variable name.
      action: one of copied, reinitialised, resampled, identity, synthetic, fresh_head.
      endpoint: the endpoint owning the variable (None when no layout was given).
      shape: the variable's shape.
      detail: e.g. the normal a resampled tensor was drawn from.
    """

    name: str
    action: str
    endpoint: str | None
    shape: tuple[int, ...]
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Unused:
    """A pretrained variable that was not used, and why (`excluded` or `above`)."""

    name: str
    reason: str
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class SurgeryReport:
    """Every model variable once, in model order, plus the unused pretrained variables."""

    kind: str
    variables: tuple[VariableAction, ...]
    unused: tuple[Unused, ...] = ()
    extra: dict = dataclasses.field(default_factory=dict)

    def names(self, action: str) -> list[str]:
        """Model variables that received `action`, in model order."""
        return [v.name for v in self.variables if v.action == action]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per action: number of variables and of values."""
        out: dict[str, dict[str, int]] = collections.defaultdict(lambda: {"variables": 0})
        for v in self.variables:
            entry = out[v.action]
            entry["variables"] += 1
            entry["values"] = entry.get("values", 0) + int(np.prod(v.shape, dtype=np.int64))
        for u in self.unused:
            entry = out[f"unused_{u.reason}"]
            entry["variables"] += 1
        return dict(out)

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "counts": self.counts(),
            "variables": [dataclasses.asdict(v) for v in self.variables],
            "unused": [dataclasses.asdict(u) for u in self.unused],
            **self.extra,
        }

    def summary(self) -> str:
        """One line with the count of variables per action, for logs."""
        return self.summary_of(self.to_json())

    @staticmethod
    def summary_of(report: dict) -> str:
        """`summary()` of a report already in JSON form (`to_json()`)."""
        parts = [f"{k} {v['variables']}" for k, v in report["counts"].items()]
        return f"init {report['kind']}: " + ", ".join(parts) + " (variables)"
