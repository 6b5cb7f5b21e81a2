"""Ownership: owners without logins, the ownership history of each item, transfers and recovery."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the owner pages, the brand's ownership API and the CLI."""
