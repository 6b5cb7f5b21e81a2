"""The top-level CLI: the domains' command groups are imported when used, not at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from app import cli

REPO = Path(__file__).resolve().parents[1]


def test_each_lazy_group_is_the_group_of_its_name():
    for name, load in cli.LAZY_GROUPS.items():
        group = load()
        assert isinstance(group, click.Group)
        assert group.name == name


def test_building_the_app_for_a_command_imports_no_command_group():
    # A fresh interpreter: this test process has imported every group already.
    probe = (
        "import sys, click\n"
        "from app import create_app\n"
        "with click.Context(click.Command('flask')):\n"
        "    app = create_app({'SECRET_KEY': 'x' * 40})\n"
        "print(sorted(m for m in ('app.scheduler.cli', 'app.demo.cli', 'app.verify.cli',"
        " 'app.rules.cli', 'app.insights.cli', 'app.catalog.cli') if m in sys.modules))\n"
        "print(sorted(app.cli.commands))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True)
    imported, commands = done.stdout.splitlines()
    assert imported == "[]"
    for name in cli.LAZY_GROUPS:
        assert f"'{name}'" in commands


def test_a_lazy_group_runs_lists_and_helps_as_its_group(app):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["--help"])
    assert "The tag registry." in listed.output
    helped = runner.invoke(args=["tags", "--help"])
    assert helped.exit_code == 0
    assert "The tag registry." in helped.output
    assert "tap" in helped.output
    refused = runner.invoke(args=["tags", "tap", "NO-SUCH-SERIAL"])
    assert refused.exit_code == 1
    assert "NO-SUCH-SERIAL" in refused.output
