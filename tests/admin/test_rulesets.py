"""The refused-rulesets report the brand pages show: a brand sees its own files only."""

from __future__ import annotations

from types import SimpleNamespace

from app.admin.rulesets import refused_rulesets
from app.rules.registry import LoadError


def test_a_brand_sees_its_own_refused_files_only_and_an_admin_sees_all():
    registry = SimpleNamespace(errors={
        "maison-aurelia.yaml": LoadError("maison-aurelia.yaml", "line 3: bad", 2.0),
        "atelier-borel.yaml": LoadError("atelier-borel.yaml", "line 9: bad", 1.0),
    })
    own = refused_rulesets(registry, "maison-aurelia")  # type: ignore[arg-type]
    assert [(r.source, r.message) for r in own] == [("maison-aurelia.yaml", "line 3: bad")]
    every = refused_rulesets(registry, None)  # type: ignore[arg-type]
    assert [r.source for r in every] == ["atelier-borel.yaml", "maison-aurelia.yaml"]
