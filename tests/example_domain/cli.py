"""`casemgr example hello`."""

from __future__ import annotations

import click


@click.group()
def example() -> None:
    """Say hello from the example domain."""


@example.command()
def hello() -> None:
    """Print a greeting."""
    click.echo("hello from the example domain")
