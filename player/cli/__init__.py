"""The ``haven`` command line: commands parse options, call the core and print; the core never imports it."""


def __getattr__(name: str):
    """``player.cli:main`` (the ``haven`` script) without importing every command up front."""
    if name == "main":
        from player.cli.app import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
