"""Whether a marketer's Markdown is safe for a page, as ``app.core.markdown.to_html`` renders it.

``to_html`` renders CommonMark with raw HTML off (shown as text), images off, and markdown-it's
refusal of ``javascript:`` links. Text that relies on any of those is never what the brand meant,
so ``journeys validate`` refuses it. Here, not in ``app.core``: the language imports nothing of
the app but the fact vocabulary.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

# The same parser with raw HTML on, only to find it: ``to_html`` would show it as text, which is
# never what the brand meant, so ``journeys validate`` refuses it instead.
_finder = MarkdownIt("commonmark", {"html": True})
_UNSAFE_SCHEME = re.compile(r"(?i)\b(?:javascript|vbscript)\s*:|\]\(\s*<?\s*(?:data|file)\s*:")


def markdown_problem(text: str) -> str | None:
    """Return why ``text`` is not safe Markdown for a page (raw HTML, a ``javascript:`` or
    other script link, an image), or None when it is."""
    for token in _finder.parse(text):
        for t in (token, *(token.children or ())):
            if t.type in ("html_block", "html_inline"):
                return f"it contains raw HTML ({t.content.strip()[:40]!r}); write Markdown only"
            if t.type == "image":
                return "it contains an image; use the journey's 'media' for pictures"
    found = _UNSAFE_SCHEME.search(text)
    if found:
        return (f"it contains a link to {found.group(0).lstrip('](< ').strip().lower()} which a "
                "page never follows; link to https:// or a page of this site")
    return None
