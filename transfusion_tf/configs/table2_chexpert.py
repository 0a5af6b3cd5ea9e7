r"""Table 2: CheXpert, five pathologies, six models from random init and ImageNet weights.

Reproduces the paper's Table 2 (SPEC §1 item 1, §4): the Table 1 models at 224 px, ~100k
steps, random init vs ImageNet weights, 3 seeds; per-pathology ROC AUC (Atelectasis,
Cardiomegaly, Consolidation, Edema, Pleural Effusion) on the official valid.csv and their
mean. Paper numbers: not published (not recovered; SPEC §1 lists none). The paper's
finding: as on RETINA, transfer barely changes the final AUC and small models keep up.

Commands:
  python -m transfusion_tf.study --study=table2 --workdir=studies/table2 \
      --data_root=chexpert=/data --data_root=source=/data/imagenet
  (add --print_commands for one line per run)
Runtime: 36 runs of ~100k steps at 224 px (a ResNet-50 run about 4 GPU-hours on one
V100, assumed ~250 images/s at 224 px with batch 32; untested here) plus 4 CBR
pretrainings. Demo (`--study=table2:demo`: CBR-Tiny and CBR-Small at half width, 64 px,
300 steps, 2 seeds, synthetic chest x-rays): about 8 minutes on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.configs import chexpert
from transfusion_tf.configs import study_parts as parts
from transfusion_tf.studies import DataSpec, Study


def get_config(arg: str = ""):
    """One run of the grid; `demo`: CBR-Small at half width, 64 px, 300 steps."""
    if arg not in ("", "demo"):
        raise ValueError(f"unknown table2 variant {arg!r}; valid: '', 'demo'")
    c = chexpert.get_config(arg)
    c.eval.final_splits = ("valid",)  # The official valid.csv.
    if arg == "demo":
        c.data.image_size = 64
        c.model.options.widths = (16, 32, 64, 128)
        c.train.total_steps = 300
        c.train.eval_every = c.train.checkpoint_every = 25
        c.eval.bootstrap_samples = 200
    return c


def get_study(arg: str = "") -> Study:
    if arg == "":
        models, seeds, per_model = parts.PAPER_MODELS, (0, 1, 2), {}
        source_config = parts.SOURCE_CONFIG
        data = {
            "chexpert": DataSpec(
                "pipelines.generate",
                {"dataset": "chexpert", "num_patients": 20_000, "image_size": 320, "workers": 2},
                "CheXpert-v1.0-small as distributed (give --data_root=chexpert=<dir>)",
            ),
            "source": parts.PAPER_SOURCE,
            **parts.slim_data(models),
        }
    elif arg == "demo":
        models, seeds = ("cbr_tiny", "cbr_small"), (0, 1)
        per_model = parts.demo_widths(models)
        source_config = "transfusion_tf/configs/demo_study.py:source"
        data = {"chexpert": parts.DEMO_CHEXPERT, "source": parts.DEMO_SOURCE}
    else:
        raise ValueError(f"unknown table2 variant {arg!r}; valid: '', 'demo'")
    config = "transfusion_tf/configs/table2_chexpert.py" + (f":{arg}" if arg else "")
    runs = parts.pretraining_runs(models, source_config, per_model)
    runs += parts.grid(
        config, models, ("random", "imagenet"), seeds, data="chexpert", per_model=per_model
    )
    return Study(
        name="table2" + (f":{arg}" if arg else ""),
        title="Table 2: CheXpert mean AUC over 5 pathologies, random init vs ImageNet transfer",
        runs=runs,
        data=data,
        thresholds=(0.8,),
        paper={"mean_auc": {}},
        notes="Mean of the five per-pathology AUCs on the official valid.csv (metrics.json "
        "holds each pathology with its CI).",
    )
