"""After-sales: owners' service requests and the brand's service events."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the after-sales routes and CLI (filled in by the after-sales work)."""
