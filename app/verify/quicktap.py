"""``aftertap-tap SERIAL``: ``flask --app wsgi tags tap SERIAL`` without building the app.

The same options, settings (defaults, then ``AFTERTAP_*``), connection tuning, minting
(``app.verify.mint``) and one-line errors, in about a quarter of the time (bench/cli_startup.py):
the app factory imports every package, this loads neither Flask nor the ORM. A test holds it
to that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from app.core.engine import make_engine
from app.core.settings import ConfigurationError, resolve
from app.verify.keys import KeysUnavailable, open_keyring
from app.verify.mint import TagNotFound, find_sim_tag, mint_url
from app.verify.sun import SimulationNotAllowed

HELP = "Print a fresh simulated tap URL for the tagged item SERIAL."
# Every setting used, and the only ones checked.
SETTINGS = ("DATABASE_URL", "KEYS_FILE", "PUBLIC_BASE_URL", "SQLITE_BUSY_TIMEOUT_MS")

_F = TypeVar("_F", bound=Callable[..., Any])


def tap_options(command: _F) -> _F:
    """Add ``tags tap``'s argument and options to ``command`` (this script's and the group's)."""
    for decorator in reversed((
        click.argument("serial"),
        click.option("--gtin", help="Needed when several products share the serial."),
        click.option("--mode", type=click.Choice(["aes", "lrp", "plain"]), default="aes",
                     show_default=True),
        click.option("--form", type=click.Choice(["gs1", "t"]), default="gs1",
                     show_default=True),
        click.option("--base-url", help="Defaults to AFTERTAP_PUBLIC_BASE_URL."),
    )):
        command = decorator(command)
    return command


@click.command(help=HELP)
@tap_options
def main(serial: str, gtin: str | None, mode: str, form: str, base_url: str | None) -> None:
    try:
        config = resolve(SETTINGS)
        # Before the database, as `tags tap`: a missing keys file is the first thing to say.
        # Read once: a command that exits at once never needs the file looked at again.
        keys = open_keyring(config["KEYS_FILE"], check_every=-1)
    except (ConfigurationError, KeysUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    engine = make_engine(config["DATABASE_URL"],
                         sqlite_busy_timeout_ms=config["SQLITE_BUSY_TIMEOUT_MS"])
    try:
        with engine.begin() as conn:
            tag = find_sim_tag(conn, serial, gtin)
            url = mint_url(conn, keys, tag, base_url or config["PUBLIC_BASE_URL"], mode=mode,
                           form=form)
    except (TagNotFound, SimulationNotAllowed) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(url)
