"""``python -m nodeagent``: see :mod:`nodeagent.cli`."""

from .cli import main

main()
