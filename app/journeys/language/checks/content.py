"""Words and media marketers write: a journey's ``content`` and a reward's or prize's label,
description and terms.

Every text is either a string (the ruleset's first locale) or a mapping ``{en: ..., fr: ...}``
that must give every locale of ``locales:``. Markdown (``body``, ``description``, ``terms``)
must be safe as written: raw HTML, script links and images are refused here rather than shown
as text on a page. Media files are names in the brand's asset folder; that they exist is checked
by ``journeys validate`` (``app.catalog.themes.media_problems``), which knows the folder.
"""

from __future__ import annotations

from typing import Any

from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from app.journeys.language.checks.shapes import did_you_mean, entries, mapping, word_list
from app.journeys.language.context import Context
from app.journeys.language.markdown import markdown_problem
from app.journeys.language.syntax import RulesetDoc, Text
from app.journeys.language.words import (
    BLOCKS,
    CONTENT_FIELDS,
    CTA_FIELDS,
    CTA_TARGETS,
    MEDIA_FIELDS,
    PRODUCT_CONTENT_FIELDS,
    WORDS_FIELDS,
)
from app.journeys.language.yamlnodes import Entry, construct, is_null, show

_FILE_LIKE = "a file name from the brand's assets, like film.mp4"
_MARKDOWN = {"body", "description", "terms", "text"}


def localized(ctx: Context, entry: Entry | None, label: str, path: str) -> Text:
    """Return the text of ``entry`` per locale, or () when absent or wrong (reported).

    ``path`` names the field in messages, like ``content.heading``.
    """
    if entry is None or is_null(entry.node):
        return ()
    node = entry.node
    markdown = entry.key in _MARKDOWN
    locales = ctx.locales or ("en",)
    if isinstance(node, ScalarNode):
        pairs = [(locales[0], str(node.value))]
    elif isinstance(node, MappingNode):
        pairs = []
        for key_node, value_node in node.value:
            tag = str(key_node.value) if isinstance(key_node, ScalarNode) else None
            if tag not in locales:
                ctx.problem(key_node, f"{label}: {path} is written in {show(key_node)}, which is "
                            f"not one of the ruleset's locales ({word_list(locales)})"
                            f"{did_you_mean(str(tag), locales)}")
                continue
            if not isinstance(value_node, ScalarNode) or is_null(value_node):
                ctx.problem(value_node, f"{label}: {path} in '{tag}' must be text, "
                            f"not {show(value_node)}")
                continue
            pairs.append((tag, str(value_node.value)))
        written = {tag for tag, _ in pairs}
        for tag in locales:
            if tag not in written and all(str(k.value) != tag for k, _ in node.value):
                ctx.problem(node, f"{label}: {path} has no '{tag}' translation (the ruleset's "
                            f"locales are {word_list(locales)})")
    else:
        ctx.problem(node, f"{label}: {path} must be text, or text per locale like "
                    f"{{{locales[0]}: ...}}, not {show(node)}")
        return ()
    pairs.sort(key=lambda pair: locales.index(pair[0]))  # the first locale first: the fallback
    for tag, words in pairs:
        if not words.strip():
            ctx.problem(node, f"{label}: {path} in '{tag}' is empty")
        elif markdown and (why := markdown_problem(words)):
            ctx.problem(node, f"{label}: {path} in '{tag}' is not safe Markdown: {why}")
    return tuple(pairs)


def check_words(ctx: Context, fields: dict[str, Entry], label: str) -> dict[str, Text]:
    """Return a reward's or prize's ``label``, ``description`` and ``terms``, per locale."""
    return {name: localized(ctx, fields.get(name), label, name) for name in WORDS_FIELDS}


def check_journey_content(ctx: Context, entry: Entry | None, label: str) -> dict[str, Any]:
    """Return a journey's content for its page: texts as {locale: text}, ``cta`` as
    {label, to}, ``media`` as {image|video, poster, alt}, ``blocks`` as a tuple of names."""
    if entry is None or is_null(entry.node):
        return {}
    node = entry.node
    if not mapping(ctx, node, label, "content", "heading, body, cta, media, blocks"):
        return {}
    try:
        construct(node)  # a tag YAML cannot read (``!movie x``) is refused as before
    except Exception as exc:
        reason = getattr(exc, "problem", None) or str(exc)
        ctx.problem(node, f"{label}: 'content' cannot be read: {reason}")
        return {}
    fields = entries(ctx, node, f"{label}: content", CONTENT_FIELDS)
    out: dict[str, Any] = {}
    for name in ("heading", "body", "note", "title", "text"):
        if words := localized(ctx, fields.get(name), label, f"content.{name}"):
            out[name] = dict(words)
    for name in ("film", "poster"):
        if (value := _file(ctx, fields.get(name), label, f"content.{name}")) is not None:
            out[name] = value
    if (cta := _cta(ctx, fields.get("cta"), label)) is not None:
        out["cta"] = cta
    if (media := _media(ctx, fields.get("media"), label)) is not None:
        out["media"] = media
    if (blocks := _blocks(ctx, fields.get("blocks"), label)) is not None:
        out["blocks"] = blocks
    return out


def check_product_content(ctx: Context, entry: Entry | None, label: str) -> dict[str, Any]:
    """Return ``care`` or ``owner_content`` of one ``products:`` entry for its page block:
    ``heading`` and ``body`` as {locale: text}, ``media`` as {image|video, poster, alt}; the same
    checks as a journey's content (translations, safe Markdown, file names)."""
    if entry is None or is_null(entry.node):
        return {}
    if not mapping(ctx, entry.node, label, entry.key, "heading, body, media"):
        return {}
    found = len(ctx.problems)
    fields = entries(ctx, entry.node, f"{label}: {entry.key}", PRODUCT_CONTENT_FIELDS)
    out: dict[str, Any] = {}
    for name in ("heading", "body"):
        if words := localized(ctx, fields.get(name), label, f"{entry.key}.{name}"):
            out[name] = dict(words)
    if (media := _media(ctx, fields.get("media"), label, f"{entry.key}.media")) is not None:
        out["media"] = media
    if not out.get("body") and not out.get("media") and len(ctx.problems) == found:
        ctx.problem(entry.node, f"{label}: {entry.key} needs a 'body' or 'media': what the "
                    "owner reads or watches")
    return out


def _file(ctx: Context, entry: Entry | None, label: str, path: str) -> str | None:
    if entry is None or is_null(entry.node):
        return None
    if not isinstance(entry.node, ScalarNode) or "/" in str(entry.node.value):
        ctx.problem(entry.node, f"{label}: {path} must be {_FILE_LIKE}, not {show(entry.node)}")
        return None
    return str(entry.node.value)


def _cta(ctx: Context, entry: Entry | None, label: str) -> dict[str, Any] | None:
    if entry is None or is_null(entry.node):
        return None
    if not mapping(ctx, entry.node, label, "content.cta", "label and to"):
        return None
    fields = entries(ctx, entry.node, f"{label}: content.cta", CTA_FIELDS)
    words = localized(ctx, fields.get("label"), label, "content.cta.label")
    target = fields.get("to")
    where = None
    if target is None or not isinstance(target.node, ScalarNode) or is_null(target.node):
        ctx.problem(target.node if target else entry.node,
                    f"{label}: content.cta needs 'to': one of {word_list(CTA_TARGETS)}, or a "
                    "page of this site like /help")
    else:
        where = str(target.node.value)
        if where not in CTA_TARGETS and not (where.startswith("/") and not where.startswith("//")
                                             and "\\" not in where):
            ctx.problem(target.node, f"{label}: content.cta goes to '{where}', which is not one "
                        f"of {word_list(CTA_TARGETS)} nor a page of this site like /help"
                        f"{did_you_mean(where, CTA_TARGETS)}")
            where = None
    if "label" not in fields:
        ctx.problem(entry.node, f"{label}: content.cta needs a 'label': the words on the button")
    if not words or where is None:
        return None
    return {"label": dict(words), "to": where}


def _media(ctx: Context, entry: Entry | None, label: str,
           path: str = "content.media") -> dict[str, Any] | None:
    if entry is None or is_null(entry.node):
        return None
    if not mapping(ctx, entry.node, label, path, "image or video, and alt"):
        return None
    fields = entries(ctx, entry.node, f"{label}: {path}", MEDIA_FIELDS)
    out: dict[str, Any] = {}
    for name in ("image", "video", "poster"):
        if (value := _file(ctx, fields.get(name), label, f"{path}.{name}")) is not None:
            out[name] = value
    if ("image" in out) == ("video" in out):
        ctx.problem(entry.node, f"{label}: {path} needs one 'image' or one 'video'")
        return None
    if "alt" not in fields:
        # A picture nobody can hear described is lost to a screen reader.
        ctx.problem(entry.node, f"{label}: {path} needs 'alt': what the "
                    f"{'image shows' if 'image' in out else 'film is about'}, in words")
    elif words := localized(ctx, fields.get("alt"), label, f"{path}.alt"):
        out["alt"] = dict(words)
    return out


def _blocks(ctx: Context, entry: Entry | None, label: str) -> tuple[str, ...] | None:
    if entry is None or is_null(entry.node):
        return None
    node = entry.node
    if not isinstance(node, SequenceNode) or not node.value:
        ctx.problem(node, f"{label}: content.blocks must be a list of blocks like "
                    f"[hero, media, item], not {show(node)}")
        return None
    out: list[str] = []
    for item in node.value:
        name = str(item.value) if isinstance(item, ScalarNode) else None
        if name not in BLOCKS:
            hint = did_you_mean(str(name), BLOCKS) or f" (blocks are: {word_list(BLOCKS)})"
            ctx.problem(item, f"{label}: unknown block {show(item)}{hint}")
        elif name in out:
            ctx.problem(item, f"{label}: block '{name}' is listed twice")
        else:
            out.append(name)
    return tuple(out)


def label_problems(doc: RulesetDoc) -> list[str]:
    """Return, as FILE:LINE:COL lines, every prize (or consolation) with no ``label``: people
    would read a generic "Your reward" when they win it. ``journeys validate`` refuses them."""
    out = []
    for rid, reward in doc.rewards.items():
        for prize in (*reward.prizes, reward.consolation):
            if prize is not None and not prize.label:
                out.append(f"{doc.source}:{prize.line}:{prize.column}: reward '{rid}': prize "
                           f"'{prize.id}' has no label, the words a winner reads, like "
                           "label: {en: 10% off your next order, fr: 10 % de remise}")
    return out
