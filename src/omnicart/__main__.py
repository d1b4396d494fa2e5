"""`python -m omnicart …` is the `omnicart` command."""

from omnicart.cli import main

main()
