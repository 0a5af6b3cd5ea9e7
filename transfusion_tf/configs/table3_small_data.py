r"""Table 3: RETINA with only 5,000 training images, random init vs ImageNet transfer.

Reproduces the paper's small-data experiment (SPEC §1 item 2): the Table 1 setup with a
seeded, patient-aware, grade-stratified subset of 5,000 training images
(`data.train_subset`), 3 seeds. Test referable-DR AUC. Paper (secondary copies,
approximate), random / transfer: ResNet-50 92.2 / 94.6, CBR-LargeT 93.6 / 93.9,
CBR-LargeW 93.6 / 93.7; Inception-v3, CBR-Small, CBR-Tiny: not published (not
recovered). Transfer helps the large model more when data is scarce.

Commands:
  python -m transfusion_tf.study --study=table3 --workdir=studies/table3 \
      --data_root=retina=/data/eyepacs --data_root=source=/data/imagenet
Runtime: as Table 1 (the step budget, not the data size, sets it). Demo
(`--study=table3:demo`: CBR-LargeW and CBR-Small at half width, 300 training images at
64 px, 2 seeds): about 10 minutes on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.configs import study_parts as parts
from transfusion_tf.configs import table1_retina
from transfusion_tf.studies import Study

PAPER_AUC = {"resnet_v1_50/random": 0.922, "resnet_v1_50/imagenet": 0.946,
             "cbr_large_t/random": 0.936, "cbr_large_t/imagenet": 0.939,
             "cbr_large_w/random": 0.936, "cbr_large_w/imagenet": 0.937}  # fmt: skip
SUBSET = {"": 5_000, "demo": 300}


def get_config(arg: str = ""):
    """One run: the Table 1 run on the subset."""
    c = table1_retina.get_config(arg)
    c.data.train_subset = SUBSET[arg]
    return c


def get_study(arg: str = "") -> Study:
    base = table1_retina.get_study(arg)
    models = parts.PAPER_MODELS if arg == "" else ("cbr_large_w", "cbr_small")
    config = "transfusion_tf/configs/table3_small_data.py" + (f":{arg}" if arg else "")
    per_model = parts.demo_widths(models) if arg else {}
    sources = [r for r in base.runs if r.name.startswith("source_") and r.name[7:] in models]
    runs = sources + parts.grid(
        config, models, ("random", "imagenet"), (0, 1, 2) if not arg else (0, 1),
        per_model=per_model,
    )  # fmt: skip
    return Study(
        name="table3" + (f":{arg}" if arg else ""),
        title=f"Table 3: RETINA with {SUBSET[arg]:,} training images, random vs transfer",
        runs=runs,
        data=parts.used_data(base.data | parts.slim_data(models), runs),
        thresholds=(0.85, 0.91),
        paper={"auc": PAPER_AUC},
        notes=f"Training subset: {SUBSET[arg]:,} images (data.train_subset, seeded, "
        "patient-aware, grade-stratified); validation and test splits are whole.",
    )
