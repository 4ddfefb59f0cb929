"""Allow ``python -m player`` as well as the ``haven`` console script."""

from player.cli.app import main

if __name__ == "__main__":
    main()
