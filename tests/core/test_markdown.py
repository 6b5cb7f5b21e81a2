"""Brands' Markdown is rendered safely: no raw HTML, no script links, no remote images."""

from __future__ import annotations

import pytest

from app.core.markdown import to_html


@pytest.mark.parametrize(("text", "html"), [
    ("Wash **cold**.", "<p>Wash <strong>cold</strong>.</p>\n"),
    ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"),
    ('<img src=x onerror="alert(1)">', "<p>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</p>\n"),
    ("[tap](javascript:alert(1))", "<p>[tap](javascript:alert(1))</p>\n"),
    ("![x](https://tracker.example/p.gif)", "<p>!<a href=\"https://tracker.example/p.gif\">x</a></p>\n"),
    ("# Washing\n###### Deep", "<h2>Washing</h2>\n<h6>Deep</h6>\n"),
    ("", ""),
])
def test_rendering(text, html):
    assert str(to_html(text)) == html


def test_none_is_empty():
    assert to_html(None) == ""
