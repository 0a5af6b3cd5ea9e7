r"""Reports what a dataset holds before anyone trains on it.

Usage:
  python -m pipelines.inspect --dataset=messidor2 --root=/data/messidor2 \
      [--json_out=report.json] [--scan=header|decode] [--split_seed=0] \
      [--split_fractions=train=0.8,valid=0.1,test=0.1] [--option=image_dir=preprocess]

Prints, per split, the image count, patients, views, file formats, missing and corrupt
files, rows excluded by a label policy, and for each label the count of every state
before and after the policy (`pipelines.readers.inspection.inspect_dataset`); `--json_out` writes
the same as JSON. Works when images are partly or wholly absent. Exit status 1 when the
label files themselves are refused (one `error:` line naming the file and line), 2 for a
bad flag value.
"""

from __future__ import annotations

import json

from absl import flags

import errors
from pipelines import flag_values
from pipelines.readers import inspection

_DATASET = flags.DEFINE_string("dataset", None, "Dataset name.", required=True)
_ROOT = flags.DEFINE_string("root", None, "Dataset root, as for training.", required=True)
_JSON_OUT = flags.DEFINE_string("json_out", "", "Also write the report here as JSON.")
_SCAN = flags.DEFINE_enum("scan", "header", ["header", "decode"], "Image check.")
_SPLIT_SEED = flags.DEFINE_integer("split_seed", 0, "As data.split_seed.")
_SPLIT_FRACTIONS = flags.DEFINE_string(
    "split_fractions",
    "",
    "As data.split_fractions, e.g. train=0.8,valid=0.1,test=0.1; '' is the dataset's "
    "default (its DatasetSpec.split_fractions in pipelines.datasets).",
)
_OPTIONS = flags.DEFINE_multi_string(
    "option", [], "Reader option key=value (repeatable), as data.options."
)
_MAX_PROBLEMS = flags.DEFINE_integer("max_problems", 5, "Problem files printed per split.")


def main(argv: list[str]) -> None:
    del argv  # Positional arguments are refused by errors.run.
    report = inspection.inspect_dataset(
        _DATASET.value,
        _ROOT.value,
        split_fractions=flag_values.parse_fractions(_SPLIT_FRACTIONS.value),
        split_seed=_SPLIT_SEED.value,
        scan=_SCAN.value,
        **flag_values.parse_key_values(_OPTIONS.value),
    )
    print(inspection.format_report(report, max_problems=_MAX_PROBLEMS.value))
    if _JSON_OUT.value:
        with open(_JSON_OUT.value, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    errors.run(main)
