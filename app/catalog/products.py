"""``products import``: a brand's catalogue from a CSV or JSON file, all of it or nothing.

Each product is one CSV row or one JSON object with these fields:

=================  ==========================================================================
``gtin``           required; GTIN-8/12/13/14 with its check digit
``name``           required; the product's name as customers see it
``category``       required; a lowercase noun as a sentence uses it ("this parka")
``warranty_months``  whole months from the first owner's activation; empty: no warranty
``made_in``        where it was made (shown, signed into provenance records)
``material``       what it is made of (shown, signed)
``attr:<name>``    any other provenance attribute (CSV); JSON: ``"attributes": {name: value}``
``made_in:<locale>``  an attribute's value in another language than the brand's (``made_in:fr``,
                   ``material:fr``, ``attr:cask:fr``); JSON: ``"values": {"made_in": {"fr":
                   "Florence, Italie"}}``. The plain value is the brand's language, shown
                   where the page's language has none.
``care``           care text, Markdown, in the brand's language (``brands create --locale``)
``care:<locale>``  the care text in another language (``care:fr``); JSON: ``"care": {"en": ...,
                   "fr": ...}``
``owner_content``  owner-only content, Markdown; ``owner_content:<locale>`` as ``care``
``label:<name>``   what the item card calls attribute ``<name>`` (``label:cask``), in the brand's
                   language; ``label:<name>:<locale>`` in another (CSV). JSON: ``"labels":
                   {"cask": {"en": "Cask", "fr": "Fût"}}``. Known attributes (made_in,
                   material...) have built-in labels in every language; these win over them.
``images``         file names in the brand's asset folder, ``|``-separated (CSV) or a list
``plural``         ``true`` when the category is a plural noun ("these sneakers are"); default
                   false. Pages agree with it (``app.core.wording``).
=================  ==========================================================================

The file is each product's whole description: importing it again makes the products what it
says (the same file twice changes nothing). Every problem is reported with its line, and any
problem rejects the whole file.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.images import MAX_IMAGES, ImageProblem, brand_folder, check_image
from app.catalog.models import Brand, Product
from app.catalog.service import InvalidIdentifier, normalize_gtin
from app.catalog.views import ProductImage
from app.core.errors import DomainError

REQUIRED = ("gtin", "name", "category")
OPTIONAL = ("warranty_months", "made_in", "material", "care", "owner_content", "images",
            "plural")
ATTR_PREFIX = "attr:"
LABEL_PREFIX = "label:"
# Columns written once per language (``care:fr``); the plain column is the brand's language.
LOCALIZED = ("care", "owner_content")
# Attribute columns whose value may also be written per language (``made_in:fr``); any other
# attribute's is ``attr:<name>:<locale>``.
LOCALIZED_VALUES = ("made_in", "material")
# A language code as rulesets write them (app.journeys.language.words.LOCALE_RE).
_LOCALE_RE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,4})?$")
# Provenance attribute names: journeys read them as product.<name>, records sign them as
# item.<name>. These are the product's own fields, or the item's in a record.
_ATTR_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_RESERVED = frozenset({*REQUIRED, *OPTIONAL, "serial", "product", "made_on", "attributes",
                       "owner_content_title"})
# A category goes into sentences ("this parka has been tapped"): lowercase words.
_CATEGORY_RE = re.compile(r"^[^\W\d_A-Z]+(?:[ -][^\W\d_A-Z]+)*$")
_ONE_LINE_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# Markdown keeps tab and line breaks.
_TEXT_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_MAX_LINE = 200
_MAX_MARKDOWN = 20_000
_MAX_WARRANTY_MONTHS = 240

Row = tuple[int, Mapping[str, Any]]


class ProductsRejected(DomainError):
    """The file had problems; ``problems`` lists ``(line, message)``. Nothing was imported."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass(frozen=True)
class ProductsSummary:
    created: int
    updated: int
    unchanged: int


@dataclass
class _Product:
    line: int
    gtin: str
    name: str
    category: str
    attributes: dict[str, Any] = field(default_factory=dict)
    provenance: list[str] = field(default_factory=list)
    care: str | None = None
    owner_content: str | None = None
    images: list[ProductImage] = field(default_factory=list)
    texts: dict[str, Any] = field(default_factory=dict)


# --- reading the file -----------------------------------------------------------------------


def read_products_file(path: Path) -> list[Row]:
    """Return ``(line, fields)`` for each product in the CSV or JSON file at ``path``.

    Raises:
        ProductsRejected: not .csv or .json, not UTF-8, a bad CSV header or malformed JSON.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ProductsRejected([(1, "the file must be .csv or .json")])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ProductsRejected([(line, "the file is not UTF-8 text")]) from None
    return _read_csv(text) if suffix == ".csv" else _read_json(text)


def _read_csv(text: str) -> list[Row]:
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = [h.strip() for h in next(reader, [])]
        problems = _check_header(header)
        if problems:
            raise ProductsRejected(problems)
        rows: list[Row] = []
        end = reader.line_num
        for values in reader:
            # A quoted cell may span lines (Markdown): a product's line is where its row starts.
            start, end = end + 1, reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                rows.append((start, {"_problem": f"has {len(values)} cells; the header has "
                                                  f"{len(header)}"}))
                continue
            rows.append((start, _from_csv(dict(zip(header, values, strict=True)))))
    except csv.Error as exc:
        raise ProductsRejected([(reader.line_num, f"not valid CSV ({exc})")]) from None
    return rows


def _check_header(header: list[str]) -> list[tuple[int, str]]:
    known = (*REQUIRED, *OPTIONAL)
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in known and not c.startswith(ATTR_PREFIX)
               and not c.startswith(LABEL_PREFIX)
               and c.partition(":")[0] not in (*LOCALIZED, *LOCALIZED_VALUES)]
    doubled = sorted({c for c in header if header.count(c) > 1})
    problems = []
    if missing:
        problems.append((1, f"the header lacks {', '.join(missing)}"))
    if unknown:
        problems.append((1, f"unknown column(s) {', '.join(unknown)}: the columns are "
                            f"{', '.join(known)}, {ATTR_PREFIX}<name>[:<locale>], "
                            f"{LABEL_PREFIX}<name>[:<locale>], made_in:<locale>, "
                            "material:<locale>, care:<locale> and owner_content:<locale>"))
    if doubled:
        problems.append((1, f"column(s) {', '.join(doubled)} appear twice"))
    return problems


def _from_csv(cells: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    labels: dict[str, dict[str, str]] = {}
    values: dict[str, dict[str, str]] = {}
    for column, value in cells.items():
        if column.startswith(ATTR_PREFIX):
            # attr:<name> (the brand's language) or attr:<name>:<locale>
            name, _, locale = column[len(ATTR_PREFIX):].partition(":")
            if value.strip() and locale:
                values.setdefault(name, {})[locale] = value
            elif value.strip():
                attributes[name] = value
        elif column.partition(":")[0] in LOCALIZED_VALUES and ":" in column:
            name, _, locale = column.partition(":")
            if value.strip():
                values.setdefault(name, {})[locale] = value
        elif column.startswith(LABEL_PREFIX):
            # label:<name> (the brand's language, "") or label:<name>:<locale>
            name, _, locale = column[len(LABEL_PREFIX):].partition(":")
            if value.strip():
                labels.setdefault(name, {})[locale] = value
        elif column.partition(":")[0] in LOCALIZED:
            name, _, locale = column.partition(":")
            if value.strip():
                texts = fields.setdefault(name, {})
                if isinstance(texts, dict):
                    texts[locale] = value
        elif column == "images":
            fields["images"] = [n.strip() for n in value.split("|") if n.strip()]
        else:
            fields[column] = value
    fields["attributes"] = attributes
    if labels:
        fields["labels"] = labels
    if values:
        fields["values"] = values
    return fields


def _read_json(text: str) -> list[Row]:
    decoder = json.JSONDecoder()
    try:
        start = _skip_space(text, 0)
        if not text.startswith("[", start):
            raise ProductsRejected([(_line(text, start), "the file must be a JSON list of "
                                                         "products ([{...}, ...])")])
        rows: list[Row] = []
        index = _skip_space(text, start + 1)
        while not text.startswith("]", index):
            line = _line(text, index)
            value, index = decoder.raw_decode(text, index)
            rows.append((line, value if isinstance(value, dict)
                         else {"_problem": "each product must be a JSON object {...}"}))
            index = _skip_space(text, index)
            if text.startswith(",", index):
                index = _skip_space(text, index + 1)
            elif not text.startswith("]", index):
                raise json.JSONDecodeError("expected ',' or ']'", text, index)
        rest = _skip_space(text, index + 1)
        if rest < len(text):
            raise json.JSONDecodeError("extra data after the list", text, rest)
    except json.JSONDecodeError as exc:
        raise ProductsRejected([(exc.lineno, f"not valid JSON ({exc.msg})")]) from None
    return rows


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


# --- checking each product ------------------------------------------------------------------


def row_gtin(fields: Mapping[str, Any]) -> str | None:
    """Return the row's GTIN normalised to 14 digits, or None when it is not a valid one."""
    value = fields.get("gtin")
    if not isinstance(value, str):
        return None
    try:
        return normalize_gtin(value)
    except InvalidIdentifier:
        return None


def _text(fields: Mapping[str, Any], name: str, problems: list[str], *, required: bool = False,
          markdown: bool = False) -> str | None:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(f"{name} is missing")
        return None
    if not isinstance(value, str):
        problems.append(f"{name} must be text")
        return None
    value = value.strip()
    limit, control = (_MAX_MARKDOWN, _TEXT_CONTROL) if markdown else (_MAX_LINE, _ONE_LINE_CONTROL)
    if control.search(value):
        problems.append(f"{name} holds a control character")
    elif len(value) > limit:
        problems.append(f"{name} is {len(value)} characters; at most {limit}")
    else:
        return value.replace("\r\n", "\n") if markdown else value
    return None


def _warranty(fields: Mapping[str, Any], problems: list[str]) -> int | None:
    value = fields.get("warranty_months")
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 0 <= value <= _MAX_WARRANTY_MONTHS:
        problems.append(f"warranty_months {value!r} must be whole months from 0 to "
                        f"{_MAX_WARRANTY_MONTHS}")
        return None
    return value


def _plural(fields: Mapping[str, Any], problems: list[str]) -> bool:
    value = fields.get("plural")
    if value is None or value == "" or value is False:
        return False
    if value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes")):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no"):
        return False
    problems.append(f"plural {value!r} must be true or false")
    return False


def _provenance(fields: Mapping[str, Any], problems: list[str]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for name in ("made_in", "material"):
        value = _text(fields, name, problems)
        if value is not None:
            attributes[name] = value
    others = fields.get("attributes") or {}
    if not isinstance(others, dict):
        problems.append("attributes must be an object of name: text")
        return attributes
    for name, raw in others.items():
        if not isinstance(name, str) or not _ATTR_NAME_RE.match(name) or name in _RESERVED:
            problems.append(f"attribute name {name!r} must be lowercase letters, digits and _ "
                            "(up to 40), and not a product field")
            continue
        value = _text({name: str(raw) if isinstance(raw, int | float) else raw}, name, problems)
        if value is not None:
            attributes[name] = value
    return attributes


def _per_locale(fields: Mapping[str, Any], name: str, locale: str, problems: list[str], *,
                markdown: bool) -> tuple[str | None, dict[str, str]]:
    """Return ``name`` in the brand's language (``locale``) and in the others ({locale: text});
    the field is text (the brand's language) or {locale: text} ("": the brand's language)."""
    value = fields.get(name)
    if not isinstance(value, dict):
        return _text(fields, name, problems, markdown=markdown), {}
    base: str | None = None
    others: dict[str, str] = {}
    for tag, words in value.items():
        tag = locale if tag == "" else tag
        where = name if tag == locale else f"{name}:{tag}"
        if not isinstance(tag, str) or not _LOCALE_RE.match(tag):
            problems.append(f"{name}: {tag!r} is not a language code like en or fr-FR")
            continue
        text = _text({where: words}, where, problems, markdown=markdown)
        if text is None:
            continue
        if tag == locale:
            base = text
        else:
            others[tag] = text
    return base, others


def _labels(fields: Mapping[str, Any], attributes: Mapping[str, Any], locale: str,
            problems: list[str]) -> dict[str, dict[str, str]]:
    """Return {attribute: {locale: label}} from ``labels`` (each label text or per locale)."""
    raw = fields.get("labels") or {}
    if not isinstance(raw, dict):
        problems.append("labels must be an object of attribute: text or {locale: text}")
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, value in raw.items():
        if name not in attributes or name in ("warranty_months", "plural"):
            problems.append(f"label:{name} names no attribute this product shows")
            continue
        base, others = _per_locale({f"label:{name}": value}, f"label:{name}", locale, problems,
                                   markdown=False)
        words = {**({locale: base} if base else {}), **others}
        if words:
            out[name] = words
    return out


def _values(fields: Mapping[str, Any], attributes: Mapping[str, Any], locale: str,
            problems: list[str]) -> dict[str, dict[str, str]]:
    """Return {attribute: {locale: value}} from ``values``: attributes' values in other
    languages (the plain attribute is the brand's language)."""
    raw = fields.get("values") or {}
    if not isinstance(raw, dict):
        problems.append("values must be an object of attribute: {locale: text}")
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, value in raw.items():
        if name not in attributes:
            problems.append(f"{name}:<locale> gives a value in another language to no "
                            "attribute this product has; give its plain value too")
            continue
        if not isinstance(value, dict):
            problems.append(f"values: {name} must be {{locale: text}}")
            continue
        base, others = _per_locale({name: value}, name, locale, problems, markdown=False)
        words = {**({locale: base} if base else {}), **others}
        if words:
            out[name] = words
    return out


def _images(fields: Mapping[str, Any], folder: Path, problems: list[str]) -> list[ProductImage]:
    names = fields.get("images") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        problems.append("images must be a list of file names")
        return []
    if len(names) > MAX_IMAGES:
        problems.append(f"{len(names)} images; at most {MAX_IMAGES}")
        return []
    images = []
    for name in names:
        try:
            images.append(check_image(folder, name))
        except ImageProblem as exc:
            problems.append(str(exc))
    return images


def _check_row(fields: Mapping[str, Any], folder: Path, problems: list[str],
               locale: str = "en") -> _Product | None:
    if "_problem" in fields:
        problems.append(str(fields["_problem"]))
        return None
    unknown = sorted(set(fields) - {*REQUIRED, *OPTIONAL, "attributes", "labels", "values"})
    if unknown:
        problems.append(f"unknown field(s) {', '.join(map(str, unknown))}")
    gtin = None
    raw_gtin = fields.get("gtin")
    if raw_gtin is None or raw_gtin == "":
        problems.append("gtin is missing")
    elif not isinstance(raw_gtin, str):
        problems.append("gtin must be text (in quotes: a number loses its leading zeros)")
    else:
        try:
            gtin = normalize_gtin(raw_gtin)
        except InvalidIdentifier as exc:
            problems.append(exc.message)
    name = _text(fields, "name", problems, required=True)
    category = _text(fields, "category", problems, required=True)
    if category is not None and not _CATEGORY_RE.match(category):
        problems.append(f"category {category!r} must be a lowercase noun as a sentence uses "
                        "it, e.g. parka or hiking boot")
        category = None
    warranty = _warranty(fields, problems)
    plural = _plural(fields, problems)
    attributes = _provenance(fields, problems)
    care, care_others = _per_locale(fields, "care", locale, problems, markdown=True)
    owner_content, owner_others = _per_locale(fields, "owner_content", locale, problems,
                                              markdown=True)
    labels = _labels(fields, attributes, locale, problems)
    values = _values(fields, attributes, locale, problems)
    images = _images(fields, folder, problems)
    if gtin is None or name is None or category is None or problems:
        return None
    product = _Product(0, gtin, name, category, provenance=list(attributes), care=care,
                       owner_content=owner_content, images=images)
    product.texts = {key: value for key, value in (
        ("care", care_others), ("owner_content", owner_others), ("labels", labels),
        ("values", values)) if value}
    product.attributes = dict(attributes)
    if warranty:
        # Where the ownership domain reads the term when a journey activates the warranty.
        product.attributes["warranty_months"] = warranty
    if plural:
        # Read by app.core.wording.is_plural; absent means singular.
        product.attributes["plural"] = True
    return product


# --- importing ------------------------------------------------------------------------------


def import_products(
    session: Session, settings: Mapping[str, Any], brand: Brand, rows: Sequence[Row]
) -> ProductsSummary:
    """Create or update ``brand``'s products from ``(line, fields)`` rows; return the counts.

    Images are looked up in the brand's asset folder (``settings["ASSETS_DIR"]``). Nothing is
    committed; on a problem nothing is changed either, and the caller rolls back.

    Raises:
        ProductsRejected: with every problem of every row, by line.
    """
    folder = brand_folder(settings, brand.slug)
    problems: list[tuple[int, str]] = []
    checked: list[_Product] = []
    seen: dict[str, int] = {}
    for line, fields in rows:
        row_problems: list[str] = []
        product = _check_row(fields, folder, row_problems, brand.locale or "en")
        problems.extend((line, message) for message in row_problems)
        if product is None:
            continue
        if product.gtin in seen:
            problems.append((line, f"GTIN {product.gtin} is also on line {seen[product.gtin]}"))
            continue
        seen[product.gtin] = product.line = line
        checked.append(product)
    existing = {
        p.gtin: p for p in session.scalars(select(Product).where(Product.gtin.in_(seen)))
    } if seen else {}
    for product in checked:
        other = existing.get(product.gtin)
        if other is not None and other.brand_id != brand.id:
            problems.append((product.line, f"GTIN {product.gtin} belongs to another brand"))
    if not rows:
        problems.append((1, "the file holds no product"))
    if problems:
        raise ProductsRejected(sorted(problems, key=lambda p: p[0]))

    created = updated = 0
    for product in checked:
        values = {
            "name": product.name, "category": product.category,
            "attributes": product.attributes, "provenance_attributes": product.provenance,
            "care_text": product.care, "owner_content": product.owner_content,
            "texts": product.texts or None,
            "images": [{"file": i.file, "width": i.width, "height": i.height}
                       for i in product.images] or None,
        }
        row = existing.get(product.gtin)
        if row is None:
            session.add(Product(brand=brand, gtin=product.gtin, **values))
            created += 1
        elif any(getattr(row, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            updated += 1
    session.flush()
    return ProductsSummary(created, updated, len(checked) - created - updated)
