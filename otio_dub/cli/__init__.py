"""The ``otio-dub`` command: a thin click shell over the library, one module per family of commands.

Library errors (OtioDubError) become one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import click

from ..core.version import __version__
from .cache import cache
from .common import ignore_file_size_signal
from .dub import conform, dub, lines, stems_command
from .listen import transcribe
from .review import notes, review, studio
from .translate import translate
from .voices import cast, engines, voices
from .watch import watch


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="otio-dub")
def main() -> None:
    """Dub an edit timeline: find its dialogue, speak it fitted to each clip, write it back with stems."""
    ignore_file_size_signal()


for command in (dub, conform, lines, stems_command, transcribe, translate, review, notes, studio, cast, engines, voices, cache, watch):
    main.add_command(command)


__all__ = ["main"]
