"""What a dataset holds, before anyone trains on it: `inspect_dataset(name, root, ...)`.

Per split: images and patients, views, file formats, missing and corrupt image files
(named, with their label-file lines), rows a label policy excluded (Messidor-2's
ungradable images), and for each label the count of every state as written in the label
file ("before") and after the configured policy ("after"). The label files are read by
the real readers and split as training would split them; the image files are only
checked, never needed, so a directory whose CSVs are complete but whose images are partly
or wholly absent is reported on, not refused.

"Before" counts the cells as written (stripped; an empty cell is 'blank') over every row
of the split, excluded ones included. "After" counts what the loss sees over the kept
rows: label values for single-label data; per output, positive / negative / masked
labels for multi-label data (CheXpert).
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
from collections.abc import Mapping

import pandas as pd

from pipelines import datasets
from pipelines.readers import chexpert, image_files, messidor2, tables

# Label-file columns whose states are counted before the policy, by dataset.
RAW_LABEL_COLUMNS = {
    "aptos": ("diagnosis",),
    "chexpert": chexpert.TASKS,
    "eyepacs": ("level",),
    "messidor2": messidor2.COLUMNS[1:],
}
# The splits training uses unless told otherwise (the configs' defaults).
DEFAULT_SPLIT_FRACTIONS = {
    "aptos": {"train": 0.8, "valid": 0.1, "test": 0.1},
    "chexpert": {"train": 0.9, "valid_internal": 0.1},
    "eyepacs": {"train": 0.8, "valid": 0.1, "test": 0.1},
    "messidor2": {"train": 0.8, "valid": 0.1, "test": 0.1},
}
MISSING = "missing file"
BLANK = "blank"


def inspect_dataset(
    name: str,
    root: str,
    *,
    split_fractions: Mapping[str, float] | None = None,
    split_seed: int = 0,
    scan: str = "header",
    workers: int = 8,
    **options,
) -> dict:
    """Counts what a dataset holds, per split, without needing its images.

    Args:
      name: a dataset in `RAW_LABEL_COLUMNS`.
      root: the dataset root, as for training.
      split_fractions: as in the training config; default `DEFAULT_SPLIT_FRACTIONS`.
      split_seed: as in the training config.
      scan: `header` (fast: missing, empty, truncated, non-image files) or `decode` (also
        corrupt data inside a file; TIFF files, which TensorFlow cannot decode, are
        checked by header only).
      workers: threads for the image scan.
      **options: reader options, as `data.options` (e.g. views='all' for CheXpert).

    Returns:
      A JSON-ready dict: {'dataset', 'root', 'label_files', 'scan', 'split_seed',
      'split_fractions', 'splits': {split: {'images', 'patients', 'rows', 'views',
      'formats', 'missing', 'corrupt', 'problems': [{'path', 'reason', 'label_file',
      'line'}], 'excluded': {reason: rows}, 'exams_paired_by': {rule: images}
      (Messidor-2; {} otherwise), 'labels_before': {column: {state: rows}},
      'labels_after': {output: {state: rows}}}}, 'totals': {'images', 'missing',
      'corrupt', 'excluded', 'needs_conversion'}}. Single-label data has one output,
      'label', whose states are its values; multi-label data one output per task with
      states 'positive', 'negative', 'masked'.

    Raises:
      ValueError: for a dataset that cannot be inspected (the message lists those that
        can) or a bad scan mode.
      DataError: for label files the readers refuse (malformed rows, unknown labels,
        escaping paths: naming the file and line) or splits that come out empty.
    """
    if name not in RAW_LABEL_COLUMNS:
        raise ValueError(
            f"cannot inspect dataset {name!r}; valid: {', '.join(sorted(RAW_LABEL_COLUMNS))}"
        )
    if scan not in ("header", "decode"):
        raise ValueError(f"unknown scan {scan!r}; valid: header, decode")
    fractions = dict(split_fractions or DEFAULT_SPLIT_FRACTIONS[name])
    data = datasets.load_dataset(
        name,
        root,
        split_fractions=fractions,
        split_seed=split_seed,
        image_scan="none",
        allow_tiff=True,
        **options,
    )
    raw = _RawCells(RAW_LABEL_COLUMNS[name])
    report = {
        "dataset": name,
        "root": root,
        "label_files": [],
        "scan": scan,
        "split_seed": split_seed,
        "split_fractions": fractions,
        "splits": {},
    }
    summary = data.summary()["splits"]
    for split, rows in data.splits.items():
        after = summary[split]["labels"]
        if "mask" not in rows:
            after = {"label": after}  # Single-label: one output, its values as states.
        excluded = data.excluded.get(split, rows.iloc[:0])
        problems = _scan(rows, scan, workers)
        missing = sum(p["reason"] == MISSING for p in problems)
        report["splits"][split] = {
            "images": len(rows),
            "patients": int(rows["patient"].nunique()),
            "rows": len(rows) + len(excluded),
            "views": _views(rows),
            "formats": _formats(rows),
            "missing": missing,
            "corrupt": len(problems) - missing,
            "problems": problems,
            "excluded": data.excluded_counts(split),
            "exams_paired_by": summary[split].get("exams_paired_by", {}),
            "labels_before": raw.counts(pd.concat([rows, excluded])),
            "labels_after": after,
        }
    report["label_files"] = sorted(raw.files)
    splits = report["splits"].values()
    report["totals"] = {
        "images": sum(s["images"] for s in splits),
        "missing": sum(s["missing"] for s in splits),
        "corrupt": sum(s["corrupt"] for s in splits),
        "excluded": sum(sum(s["excluded"].values()) for s in splits),
        "needs_conversion": sum(
            n for s in splits for ext, n in s["formats"].items() if ext in (".tif", ".tiff")
        ),
    }
    return report


class _RawCells:
    """Label cells as written, looked up by (label file, line)."""

    def __init__(self, columns: tuple[str, ...]):
        self.columns = columns
        self.files: set[str] = set()
        self._tables: dict[str, pd.DataFrame] = {}

    def counts(self, rows: pd.DataFrame) -> dict[str, dict[str, int]]:
        out = {column: collections.Counter() for column in self.columns}
        for source, group in rows.groupby("source"):
            table = self._table(source).loc[group["line"]]
            for column in self.columns:
                cells = table[column].str.strip().replace("", BLANK)
                out[column].update(cells.tolist())
        return {column: dict(sorted(counter.items())) for column, counter in out.items()}

    def _table(self, source: str) -> pd.DataFrame:
        if source not in self._tables:
            self._tables[source] = tables.read_table(source, self.columns).set_index("line")
            self.files.add(source)
        return self._tables[source]


def _scan(rows: pd.DataFrame, scan: str, workers: int) -> list[dict]:
    def check(path: str) -> str | None:
        tiff = path.lower().endswith(datasets.TIFF_EXTENSIONS)
        if scan == "header" or tiff:
            return image_files.check_header(path)
        return image_files.check_decode(path)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(check, rows["path"]))
    return [
        {"path": path, "reason": reason, "label_file": source, "line": int(line)}
        for path, source, line, reason in zip(
            rows["path"], rows["source"], rows["line"], reasons, strict=True
        )
        if reason is not None
    ]


def _views(rows: pd.DataFrame) -> dict[str, int]:
    """Frontal/lateral (CheXpert) or left/right eye (EyePACS); {} where unknown."""
    for column in ("view", "eye"):
        if column in rows:
            return {str(k): int(v) for k, v in rows[column].value_counts().sort_index().items()}
    return {}


def _formats(rows: pd.DataFrame) -> dict[str, int]:
    extensions = rows["path"].map(lambda p: os.path.splitext(p)[1].lower())
    return {str(k): int(v) for k, v in extensions.value_counts().sort_index().items()}


def format_report(report: dict, *, max_problems: int = 5) -> str:
    """The report as text for the console: one block per split."""
    lines = [
        f"dataset {report['dataset']} at {report['root']} "
        f"(label files: {', '.join(report['label_files'])})",
        f"splits {report['split_fractions']} seed {report['split_seed']}; "
        f"image scan: {report['scan']}",
    ]
    for split, s in report["splits"].items():
        lines.append(
            f"\n[{split}] {s['images']} images, {s['patients']} patients ({s['rows']} label rows)"
        )
        if s["views"]:
            lines.append(f"  views: {_inline(s['views'])}")
        lines.append(f"  formats: {_inline(s['formats'])}")
        lines.append(f"  missing files: {s['missing']}, corrupt files: {s['corrupt']}")
        for problem in s["problems"][:max_problems]:
            lines.append(
                f"    {problem['path']}: {problem['reason']} "
                f"({problem['label_file']} line {problem['line']})"
            )
        if len(s["problems"]) > max_problems:
            lines.append(f"    ... and {len(s['problems']) - max_problems} more (see the JSON)")
        if s["excluded"]:
            lines.append(f"  excluded by policy: {_inline(s['excluded'])}")
        if s["exams_paired_by"]:
            lines.append(f"  images paired into exams by: {_inline(s['exams_paired_by'])}")
        for column, states in s["labels_before"].items():
            lines.append(f"  before policy  {column}: {_inline(states)}")
        for output, states in s["labels_after"].items():
            lines.append(f"  after policy   {output}: {_inline(states)}")
    t = report["totals"]
    lines.append(
        f"\ntotal: {t['images']} images, {t['missing']} missing, {t['corrupt']} corrupt, "
        f"{t['excluded']} excluded by policy"
    )
    if t["needs_conversion"]:
        lines.append(
            f"{t['needs_conversion']} TIFF images: TensorFlow cannot decode them; convert "
            f"with python -m pipelines.convert --dataset={report['dataset']} "
            f"--root={report['root']} --out=<dir>"
        )
    return "\n".join(lines)


def _inline(counts: Mapping) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"
