r"""Table 1: RETINA, six models from random init and from ImageNet weights, 3 seeds.

Reproduces the paper's Table 1 (SPEC §1 item 1): ResNet-50, Inception-v3 and the four CBRs
trained on referable DR at 587 px, ~150k steps, each from random init and from ImageNet
weights (the TF-Slim checkpoints; the CBRs pretrained on the source task first), 3 seeds.
Test referable-DR AUC. Paper (secondary copies, approximate), random / transfer:
ResNet-50 96.4 / 96.7, Inception-v3 96.6 / 96.7, CBR-LargeT 96.2 / 96.2; CBR-LargeW,
CBR-Small, CBR-Tiny: not published (not recovered). Transfer barely changes the final AUC.

Commands:
  python -m transfusion_tf.study --study=table1 --workdir=studies/table1 \
      --data_root=retina=/data/eyepacs --data_root=source=/data/imagenet
  python -m transfusion_tf.study --study=table1 --workdir=studies/table1 ... --print_commands
Runtime: 36 retina runs + 4 CBR ImageNet pretrainings; a ResNet-50 run at 587 px is about
9 GPU-hours on one V100 (assumed ~150 images/s; untested here): weeks on one GPU, so use
--print_commands with a cluster. Demo (`--study=table1:demo`, the four CBRs at half
width, 64 px, 2 seeds, no ResNet/Inception): about 12 minutes on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.configs import demo_study, retina
from transfusion_tf.configs import study_parts as parts
from transfusion_tf.studies import Study

PAPER_AUC = parts.PAPER_TABLE1_AUC


def get_config(arg: str = ""):
    """One run of the grid (ResNet-50 from random init; `demo`: CBR-Small at 64 px)."""
    if arg == "demo":
        return demo_study.get_config("retina")
    if arg:
        raise ValueError(f"unknown table1 variant {arg!r}; valid: '', 'demo'")
    c = retina.get_config()
    c.eval.final_splits = ("test",)
    return c


def get_study(arg: str = "") -> Study:
    if arg == "":
        models, seeds = parts.PAPER_MODELS, (0, 1, 2)
        config, source_config, per_model = (
            "transfusion_tf/configs/table1_retina.py",
            parts.SOURCE_CONFIG,
            {},
        )
        data = {
            "retina": parts.PAPER_RETINA,
            "source": parts.PAPER_SOURCE,
            **parts.slim_data(models),
        }
    elif arg == "demo":
        models, seeds = parts.CBRS, (0, 1)
        config = "transfusion_tf/configs/demo_study.py:retina"
        source_config, per_model = (
            "transfusion_tf/configs/demo_study.py:source",
            parts.demo_widths(models),
        )
        data = {"retina": parts.DEMO_RETINA, "source": parts.DEMO_SOURCE}
    else:
        raise ValueError(f"unknown table1 variant {arg!r}; valid: '', 'demo'")  # fmt: skip
    runs = parts.pretraining_runs(models, source_config, per_model)
    runs += parts.grid(config, models, ("random", "imagenet"), seeds, per_model=per_model)
    return Study(
        name="table1" + (f":{arg}" if arg else ""),
        title="Table 1: RETINA AUC, six models, random init vs ImageNet transfer",
        runs=runs,
        data=data,
        thresholds=(0.85, 0.91),
        paper={"auc": PAPER_AUC},
        notes="Test referable-DR AUC; the paper's are at 587 px after ~150k steps.",
    )
