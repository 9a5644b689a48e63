"""``python -m otio_dub`` runs the CLI."""

from .cli import main

main()
