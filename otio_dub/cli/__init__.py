"""The ``otio-dub`` command: a thin click shell over the library, one module per family of commands.

Library errors (OtioDubError) become one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import click

from .. import __version__
from .cache import cache
from .dub import conform, dub, lines, stems_command
from .voices import cast, engines, voices
from .watch import watch


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="otio-dub")
def main() -> None:
    """Dub an edit timeline: find its dialogue, speak it fitted to each clip, write it back with stems."""


for command in (dub, conform, lines, stems_command, cast, engines, voices, cache, watch):
    main.add_command(command)


def _optional_commands() -> None:
    """Commands whose modules other work adds (listening, review): registered when present."""
    import importlib

    for module, names in (("listen", ("transcribe",)), ("review", ("review", "notes"))):
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ImportError as exc:  # a module still being written must not take the whole CLI down
            if exc.name and exc.name.startswith(__name__):
                continue
            raise
        for name in names:
            if hasattr(mod, name):
                main.add_command(getattr(mod, name))


_optional_commands()

__all__ = ["main"]
