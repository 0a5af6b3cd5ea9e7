"""report.md / report.html layout: banner, inline code, scrolling tables, embedded figures;
the Fig 2 comparison across models on hand-made numbers."""

import pandas as pd

from transfusion_tf.studies import evidence, report_analyses
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


def test_fig2_across_models_by_hand():
    """Each model's gap (random-vs-random minus random-vs-pretrained mean CCA above the
    floor, with its standard error over pairs) and the difference of two gaps. The demo
    study's test run (test_runner.py) trains one model, so it has no such section."""

    def box(*above):  # Pairs with their value `above` a floor of 0.25.
        return evidence.Comparison(tuple(0.25 + a for a in above), (0.25,) * len(above))

    rr, rp = "random_vs_random", "random_vs_pretrained"
    found = evidence.AnalysisEvidence(
        fig2={
            # Gap 0.5 - 0.25, SE hypot(0.05, 0.05) / sqrt(3) (sample stds over 3 pairs).
            "a": {rr: box(0.45, 0.5, 0.55), rp: box(0.2, 0.25, 0.3)},
            "b": {rr: box(0, 0.05, 0.1), rp: box(0, 0.05, 0.1)},  # Gap 0, the same SE.
            "c": {rr: box(0.5), rp: box(0.5)},  # One pair: no standard error, left out.
        }
    )
    (section,) = report_analyses._model_comparison(found)
    assert section.title == "Fig 2 across models: differences beyond the noise?"
    # Each gap's SE: 0.0408; the difference's: 0.0577, so 0.25 is beyond 2 SE.
    assert section.table.to_dict("records") == [
        {
            "models": "a vs b",
            "gap (rr - rp), first": "+0.250 ± 0.041",
            "gap, second": "+0.000 ± 0.041",
            "difference": "+0.250 ± 0.058",
            "beyond the noise (abs diff > 2 SE)": "yes",
        }
    ]
    del found.fig2["b"]
    assert report_analyses._model_comparison(found) == []  # One model with 2+ pairs each.
