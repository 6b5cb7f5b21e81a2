"""Brands' Markdown (care text, owner-only content) rendered to safe HTML for the pages.

CommonMark through markdown-it-py with raw HTML off: a ``<script>`` or ``<img onerror>`` in a
brand's file is shown as text, never run. markdown-it also refuses ``javascript:``, ``vbscript:``
and ``file:`` links. Images are off: a page shows the product's own images, served from the
brand's asset folder, and loads nothing from other sites (the CSP would block them anyway).
Headings move down a level (``#`` becomes ``<h2>``): the text sits under the page's ``<h1>``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

_HEADING_SHIFT = 1


def _shifted_heading(
    renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    token = tokens[idx]
    level = min(6, int(token.tag[1]) + _HEADING_SHIFT)
    return f"<h{level}>" if token.nesting == 1 else f"</h{level}>\n"


_md = MarkdownIt("commonmark", {"html": False}).disable("image")
_md.add_render_rule("heading_open", _shifted_heading)
_md.add_render_rule("heading_close", _shifted_heading)


@functools.lru_cache(maxsize=1024)
def to_html(text: str | None) -> Markup:
    """Return ``text`` (Markdown) as HTML safe to put in a page; empty for None.

    Cached: a product's care text is rendered once per process, not on every tap.
    """
    if not text:
        return Markup("")
    return Markup(_md.render(text))  # noqa: S704 - raw HTML is off, see the module docstring
