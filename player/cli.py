"""Command line entry point (placeholder until the CLI lands)."""

import click


@click.group()
def main():
    """Haven."""
