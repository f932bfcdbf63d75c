"""engine.io.report_files: quality reports and the markdown-section writer of the result files."""

import json

import pytest

from engine.errors import RasterIOError
from engine.io.report_files import replace_markdown_section, write_report


def test_replace_markdown_section_replaces_only_its_section(tmp_path):
    p = tmp_path / "RESULTS.md"
    replace_markdown_section(p, "## A", "first\n", title="# Bench")
    replace_markdown_section(p, "## B", "| x |\n|---|\n| 1 |")
    assert p.read_text() == "# Bench\n\n## A\n\nfirst\n\n## B\n\n| x |\n|---|\n| 1 |\n"
    replace_markdown_section(p, "## A", "second\nline")
    text = p.read_text()
    assert text == "# Bench\n\n## A\n\nsecond\nline\n\n## B\n\n| x |\n|---|\n| 1 |\n"
    # idempotent: writing the same body again changes nothing
    replace_markdown_section(p, "## A", "second\nline")
    assert p.read_text() == text
    # a heading that only starts like another one is a different section
    replace_markdown_section(p, "## A2", "other")
    assert p.read_text().count("second") == 1 and p.read_text().endswith("## A2\n\nother\n")


def test_write_report_json_and_html(tmp_path):
    rep = {"title": "QNR <test>", "scores": {"QNR": 0.9, "note": "x"}, "ratio": 4}
    out = write_report(tmp_path / "r.json", rep)
    assert json.loads((tmp_path / "r.json").read_text())["scores"]["QNR"] == 0.9
    write_report(tmp_path / "r.html", rep)
    html = (tmp_path / "r.html").read_text()
    assert "QNR &lt;test&gt;" in html and "0.9000" in html
    assert out
    with pytest.raises(RasterIOError):
        write_report(tmp_path / "missing" / "r.json", rep)
