"""A study's report on disk: `report.md` and a self-contained `report.html` (figures embedded).

Every number comes from saved run files through `transfusion_tf.studies.aggregate`; every
figure is a PNG drawn from saved results. This module only lays them out: inline `code`
becomes <code> in HTML, wide tables scroll inside the page, a banner sits above everything.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import html
import os
import re

import pandas as pd

_INLINE_CODE = re.compile(r"`([^`]+)`")


@dataclasses.dataclass
class Section:
    """One titled block: a note, an optional table, an optional figure."""

    title: str
    note: str = ""
    table: pd.DataFrame | None = None
    figure: str = ""  # PNG path


def write_report(
    out_dir: str, title: str, sections: list[Section], *, banner: str = ""
) -> tuple[str, str]:
    """Writes report.md (figures linked) and report.html (figures embedded).

    Args:
      banner: a warning shown above everything (e.g. that the data are synthetic).

    Returns:
      (markdown path, html path).
    """
    os.makedirs(out_dir, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    md = [f"# {title}", ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    if banner:
        md += [f"> **{banner}**", ""]
        body.append(f'<p class="banner">{_inline_html(banner)}</p>')
    md += [f"Generated {stamp}.", ""]
    body.append(f"<p>Generated {stamp}.</p>")
    for section in sections:
        md += [f"## {section.title}", ""]
        body.append(f"<h2>{_inline_html(section.title)}</h2>")
        if section.note:
            md += [section.note, ""]
            body.append(f"<p>{_inline_html(section.note)}</p>")
        if section.table is not None:
            md += [_markdown_table(section.table), ""]
            body.append(f'<div class="scroll">{_html_table(section.table)}</div>')
        if section.figure:
            md += [f"![{section.title}]({os.path.relpath(section.figure, out_dir)})", ""]
            with open(section.figure, "rb") as f:
                data = base64.b64encode(f.read()).decode("ascii")
            body.append(
                f'<img alt="{html.escape(section.title)}" src="data:image/png;base64,{data}">'
            )
    md_path = os.path.join(out_dir, "report.md")
    html_path = os.path.join(out_dir, "report.html")
    with open(md_path, "w") as f:
        f.write("\n".join(md))
    with open(html_path, "w") as f:
        f.write(_HTML.format(title=html.escape(title), body="\n".join(body)))
    return md_path, html_path


def _inline_html(text: str) -> str:
    """Escaped text with `code` spans as <code>."""
    return _INLINE_CODE.sub(r"<code>\1</code>", html.escape(str(text)))


def _html_table(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{_inline_html(c)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_inline_html(v)}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def format_mean_std(mean: float, std: float, digits: int = 3) -> str:
    if pd.isna(mean):
        return "-"
    return f"{mean:.{digits}f}" if pd.isna(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _markdown_table(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c).replace("|", "\\|") for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = [
        "| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; line-height: 1.4; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
.scroll {{ overflow-x: auto; max-width: 100%; }}
.banner {{ background: #fff3cd; border: 1px solid #e0c060; padding: 0.6em 1em; }}
code {{ background: #f2f2f2; padding: 0 0.2em; }}
th, td {{ border-bottom: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }}
img {{ max-width: 100%; margin: 1em 0; }}
</style></head>
<body>
{body}
</body></html>
"""
