"""The package's shape: what it re-exports, and what it may import."""

from __future__ import annotations

import ast

import app.journeys.language as language
from tests.journeys.language.helpers import REPO

PACKAGE = REPO / "app" / "journeys" / "language"


def test_every_exported_name_is_there() -> None:
    assert sorted(language.__all__) == sorted(set(language.__all__))
    for name in language.__all__:
        assert getattr(language, name) is not None, name


def test_the_words_the_importers_use_are_exported() -> None:
    # What app.rules, app.rewards and the tests import from the package.
    used = {
        "ACTIONS", "Condition", "Group", "JourneyDoc", "PrizeDoc", "Problem", "RewardDoc",
        "RulesetDoc", "RulesetInvalid", "holds", "leaf_holds", "parse_ruleset_file",
        "parse_ruleset_text", "ruleset_json_schema", "when_data",
    }
    assert used <= set(language.__all__)


def test_the_package_imports_only_the_vocabulary_and_itself() -> None:
    # Pure Python: no Flask, no database, no rules engine, and no import hidden in a function.
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = set(tree.body)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if any(m == "app" or m.startswith("app.") for m in modules):
                assert node in top_level, f"{where}: an import of app inside a function"
            for module in modules:
                if module == "app.journeys" and isinstance(node, ast.ImportFrom):
                    assert [a.name for a in node.names] == ["vocabulary"], where
                elif module == "app" or module.startswith("app."):
                    assert module == "app.journeys.vocabulary" or module.startswith(
                        "app.journeys.language"
                    ), f"{where}: imports {module}"
                else:
                    assert module.split(".")[0] in {
                        "__future__", "collections", "dataclasses", "datetime", "difflib",
                        "functools", "pathlib", "re", "typing", "yaml", "zoneinfo",
                        # The Markdown parser the pages render with: content is checked by it.
                        "markdown_it",
                    }, f"{where}: imports {module}"
