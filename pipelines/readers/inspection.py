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

from errors import UsageError
from pipelines import datasets
from pipelines.readers import image_files, tables

MISSING = "missing file"
# What every split's report holds; other keys are the dataset's own summary entries.
_SPLIT_KEYS = (
    "images",
    "patients",
    "rows",
    "views",
    "formats",
    "missing",
    "corrupt",
    "problems",
    "excluded",
    "labels_before",
    "labels_after",
)
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
      name: a registered dataset whose spec names its label columns (the image-file
        datasets).
      root: the dataset root, as for training.
      split_fractions: as in the training config; default the spec's.
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
      'line'}], 'excluded': {reason: rows}, the dataset's own summary entries (Messidor-2:
      'exams_paired_by': {rule: images}), 'labels_before': {column: {state: rows}},
      'labels_after': {output: {state: rows}}}}, 'bad_rows': [{'path', 'reason',
      'label_file', 'line'}] (rows a reader set aside, the generic CSV's), 'totals':
      {'images', 'missing', 'corrupt', 'excluded', 'bad_rows', 'needs_conversion'}}.
      Single-label data has one output, 'label', whose states are its values; multi-label
      data one output per task with states 'positive', 'negative', 'masked'.

    Raises:
      ValueError: for a dataset that cannot be inspected (the message lists those that
        can) or a bad scan mode.
      DataError: for label files the readers refuse (malformed rows, unknown labels,
        escaping paths: naming the file and line) or splits that come out empty.
    """
    spec = _inspectable_spec(name, scan)
    fractions = dict(split_fractions or spec.split_fractions)
    # No image scan here (`_scan` below reports instead of refusing), so `skip` only sets
    # aside the rows a reader found bad (the generic CSV's), to be listed.
    data = datasets.load_dataset(
        name,
        root,
        split_fractions=fractions,
        split_seed=split_seed,
        image_scan="none",
        on_bad_image="skip",
        allow_tiff=True,
        **options,
    )
    raw = _RawCells(spec.label_columns(options))
    summary = data.summary()["splits"]
    splits = {
        split: _split_report(data, split, summary[split], raw, spec, scan, workers)
        for split in data.splits
    }
    bad_rows = [
        {"path": b.path, "reason": b.reason, "label_file": b.label_file, "line": b.line}
        for b in data.bad_images
    ]
    return {
        "dataset": name,
        "root": root,
        "label_files": sorted(raw.files),
        "scan": scan,
        "split_seed": split_seed,
        "split_fractions": fractions,
        "splits": splits,
        "bad_rows": bad_rows,
        "totals": _totals(splits, bad_rows),
    }


def _inspectable_spec(name: str, scan: str) -> datasets.DatasetSpec:
    """The dataset's spec, if it can be inspected with `scan`; else a usage error."""
    spec = datasets.get_dataset(name)
    if spec.label_columns is None:
        inspectable = [n for n in datasets.list_datasets() if datasets.get_dataset(n).label_columns]
        raise UsageError(f"cannot inspect dataset {name!r}; valid: {', '.join(inspectable)}")
    if scan not in ("header", "decode"):
        raise UsageError(f"unknown scan {scan!r}; valid: header, decode")
    return spec


def _totals(splits: dict, bad_rows: list) -> dict:
    return {
        "images": sum(s["images"] for s in splits.values()),
        "missing": sum(s["missing"] for s in splits.values()),
        "corrupt": sum(s["corrupt"] for s in splits.values()),
        "excluded": sum(sum(s["excluded"].values()) for s in splits.values()),
        "bad_rows": len(bad_rows),
        "needs_conversion": sum(
            n
            for s in splits.values()
            for ext, n in s["formats"].items()
            if ext in image_files.TIFF_EXTENSIONS
        ),
    }


def _split_report(data, split: str, summary: dict, raw: _RawCells, spec, scan, workers) -> dict:
    """One split's block of the report (see `inspect_dataset`)."""
    rows = data.splits[split].table
    after = summary["labels"]
    if "mask" not in rows:
        after = {"label": after}  # Single-label: one output, its values as states.
    excluded = data.excluded.get(split, rows.iloc[:0])
    problems = _scan(rows, scan, workers)
    missing = sum(p["reason"] == MISSING for p in problems)
    return {
        "images": len(rows),
        "patients": int(rows["patient"].nunique()),
        "rows": len(rows) + len(excluded),
        "views": _views(rows),
        "formats": _formats(rows),
        "missing": missing,
        "corrupt": len(problems) - missing,
        "problems": problems,
        "excluded": data.excluded_counts(split),
        **(spec.split_summary(rows) if spec.split_summary else {}),
        "labels_before": raw.counts(pd.concat([rows, excluded])),
        "labels_after": after,
    }


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
        tiff = path.lower().endswith(image_files.TIFF_EXTENSIONS)
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
        lines += _problem_lines(s["problems"], max_problems)
        if s["excluded"]:
            lines.append(f"  excluded by policy: {_inline(s['excluded'])}")
        for key, counts in s.items():
            if key not in _SPLIT_KEYS:  # The dataset's own entries, e.g. exams_paired_by.
                lines.append(f"  {key.replace('_', ' ')}: {_inline(counts)}")
        for column, states in s["labels_before"].items():
            lines.append(f"  before policy  {column}: {_inline(states)}")
        for output, states in s["labels_after"].items():
            lines.append(f"  after policy   {output}: {_inline(states)}")
    if report["bad_rows"]:
        lines.append(f"\nbad rows (in no split): {len(report['bad_rows'])}")
        lines += _problem_lines(report["bad_rows"], max_problems)
    t = report["totals"]
    lines.append(
        f"\ntotal: {t['images']} images, {t['missing']} missing, {t['corrupt']} corrupt, "
        f"{t['excluded']} excluded by policy, {t['bad_rows']} bad rows"
    )
    if t["needs_conversion"]:
        lines.append(
            f"{t['needs_conversion']} TIFF images: TensorFlow cannot decode them; convert "
            f"with python -m pipelines.convert --dataset={report['dataset']} "
            f"--root={report['root']} --out=<dir>"
        )
    return "\n".join(lines)


def _problem_lines(problems: list[dict], max_problems: int) -> list[str]:
    lines = [
        f"    {p['path']}: {p['reason']} ({p['label_file']} line {p['line']})"
        for p in problems[:max_problems]
    ]
    if len(problems) > max_problems:
        lines.append(f"    ... and {len(problems) - max_problems} more (see the JSON)")
    return lines


def _inline(counts: Mapping) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"
