"""`evaluate_run(workdir, split)`: score a trained run's checkpoint on a split.

Writes `metrics.json` (one entry per split, merged across calls) and
`predictions_<split>.csv` (one row per image: id, patient, label, task columns; for
multi-label tasks `label_<key>`/`mask_<key>` instead of `label`, and the study).
"""

from __future__ import annotations

import json
import os

from absl import logging

from transfusion_tf import checkpointing, experiment, precision, provenance


def evaluate_run(
    workdir: str,
    *,
    split: str = "test",
    checkpoint: str = checkpointing.LATEST,
    bootstrap_samples: int | None = None,
) -> dict:
    """Evaluates a run's checkpoint on one split of its dataset.

    The split is rebuilt from the run's own config.json (same dataset, split fractions and
    seed), so "test" is exactly the patients the run never trained or selected on.

    Args:
      workdir: a training workdir.
      split: split name, e.g. `valid` or `test`.
      checkpoint: `latest`, `init` or a step number.
      bootstrap_samples: replicates for the CIs; None uses config.eval.bootstrap_samples.

    Returns:
      The metrics of this split (also written to metrics.json under the split's name).

    Raises:
      FileNotFoundError: no such run or checkpoint.
      ValueError: an unknown split (the message lists the splits).
    """
    config = experiment.load_config(workdir)
    path = checkpointing.checkpoint_path(workdir, checkpoint)
    data = experiment.load_data(config)
    if split not in data.splits:
        raise ValueError(f"unknown split {split!r}; this dataset has {sorted(data.splits)}")
    part = data.splits[split]
    precision.apply_precision(config.precision)
    model = experiment.build_model(config)
    checkpointing.restore_weights(model, path)
    samples = config.eval.bootstrap_samples if bootstrap_samples is None else bootstrap_samples
    scores, logits, predictions = experiment.evaluate_split(
        model,
        config,
        part,
        bootstrap_samples=samples,
        preprocessing=experiment.preprocessing_name(config, workdir),
    )
    step = os.path.basename(path).rsplit("-", 1)[-1]
    result = {"checkpoint": path, "step": int(step)}
    if "patient" in predictions:
        result["patients"] = int(predictions["patient"].nunique())
    result.update({"bootstrap_samples": samples, "skipped_images": len(data.bad_images), **scores})
    metrics_path = os.path.join(workdir, "metrics.json")
    everything = {}
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            everything = json.load(f)
    everything[split] = result
    provenance.write_json(metrics_path, everything)

    task = experiment.get_task(config)
    for name, values in task.prediction_columns(logits).items():
        predictions[name] = values
    predictions.to_csv(os.path.join(workdir, f"predictions_{split}.csv"), index=False)
    logging.info("wrote %s and predictions_%s.csv", metrics_path, split)
    return result


def format_metrics(result: dict) -> str:
    """A short human-readable block for the console."""
    lines = [f"checkpoint {result['checkpoint']} (step {result['step']})"]
    patients = f", patients {result['patients']}" if "patients" in result else ""
    lines.append(f"  examples {result['examples']}{patients}")
    if "mean_auc" in result:
        lines.append(
            f"  mean AUC {result['mean_auc']:.4f} (95% CI {result['mean_auc_ci_low']:.4f}-"
            f"{result['mean_auc_ci_high']:.4f}, patient bootstrap)"
        )
        for key in sorted(k[4:] for k in result if k.startswith("auc_") and "_ci_" not in k):
            lines.append(
                f"    {key:<17} AUC {result['auc_' + key]:.4f} "
                f"({result['auc_' + key + '_ci_low']:.4f}-{result['auc_' + key + '_ci_high']:.4f})"
            )
    if "auc" in result:
        lines.append(
            f"  referable-DR AUC {result['auc']:.4f} "
            f"(95% CI {result['auc_ci_low']:.4f}-{result['auc_ci_high']:.4f}, patient bootstrap)"
        )
    if "accuracy_ci_low" in result:
        lines.append(
            f"  top-1 accuracy {result['accuracy']:.4f} (95% CI "
            f"{result['accuracy_ci_low']:.4f}-{result['accuracy_ci_high']:.4f}, bootstrap)"
        )
    for key in ("auprc", "kappa", "accuracy", "top5", "loss"):
        if key in result and not (key == "accuracy" and "accuracy_ci_low" in result):
            lines.append(f"  {key} {result[key]:.4f}")
    return "\n".join(lines)
