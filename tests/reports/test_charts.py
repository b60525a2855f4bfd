"""Server-side SVG charts: escaped labels, no style attributes, sizes from the values."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from bot.reports.charts import Bar, bars, columns

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_escape_labels_and_scale_to_the_rate() -> None:
    svg = bars(
        "满意率 <Satisfaction>", [Bar("<script>x</script>", 50.0, "1/2"), Bar("b", None, "0/0")]
    )
    assert "<script>" not in svg and "style=" not in svg
    root = ET.fromstring(svg)  # well-formed XML
    assert root.find(f"{SVG}title").text == "满意率 <Satisfaction>"
    widths = [r.get("width") for r in root.iter(f"{SVG}rect")]
    assert widths == ["300", "150.0", "300"]  # track, half a bar, track of the empty one
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "<script>x</script>" in texts and "50.0% 1/2" in texts and "- 0/0" in texts


def test_an_empty_chart_says_so() -> None:
    assert "No data" in bars("t", [])


def test_columns_are_proportional() -> None:
    root = ET.fromstring(columns("per day", ["2026-11-01", "2026-11-02"], [2, 4]))
    heights = [float(r.get("height")) for r in root.iter(f"{SVG}rect")]
    assert heights == [60.0, 120.0]
