"""report.md / report.html layout: banner, inline code, scrolling tables, embedded figures."""

import pandas as pd

from transfusion_tf.studies.report_files import Section, format_mean_std, write_report


def test_markdown_and_html(tmp_path):
    figure = tmp_path / "f.png"
    figure.write_bytes(b"\x89PNG fake")
    sections = [
        Section("Tables", "From `metrics.json`, a <b> tag", pd.DataFrame({"a|b": ["`x`", 1]})),
        Section("Figure", figure=str(figure)),
    ]
    md, html = write_report(str(tmp_path), "T", sections, banner="Synthetic data: `retina`")
    text = open(md).read()
    assert text.startswith("# T\n\n> **Synthetic data: `retina`**\n")
    assert "| a\\|b |\n|---|\n| `x` |\n| 1 |" in text
    assert "![Figure](f.png)" in text
    page = open(html).read()
    assert '<p class="banner">Synthetic data: <code>retina</code></p>' in page
    assert "From <code>metrics.json</code>, a &lt;b&gt; tag" in page
    assert '<div class="scroll"><table><thead><tr><th>a|b</th></tr></thead>' in page
    assert "<td><code>x</code></td>" in page and "`" not in page.split("<body>")[1]
    assert 'src="data:image/png;base64,iVBORyBmYWtl"' in page


def test_format_mean_std():
    assert format_mean_std(0.91234, 0.0049) == "0.912 ± 0.005"
    assert format_mean_std(0.9, float("nan")) == "0.900"
    assert format_mean_std(float("nan"), 0.1) == "-"
    assert format_mean_std(150.0, 7.1, 0) == "150 ± 7"
