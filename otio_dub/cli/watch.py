"""``otio-dub watch``: dub every timeline dropped into a folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from ..timelines.formats import FORMATS
from .common import setup_logging, user_errors, voice_options, voice_settings


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--to", "to", type=click.Choice(list(FORMATS)), help="Format of the dub timelines (default: each input's).")
@voice_options
@click.option("--lang", default="en", show_default=True, help="Language of lines that do not name one.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True, help="Seconds between polls.")
@click.option("--settle", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Seconds a file must stay unchanged before it is dubbed.")
@click.option("--once", is_flag=True, help="Dub what is ready now and exit (for scripts and cron).")
@click.option("-v", "--verbose", is_flag=True, help="Print debug messages.")
@user_errors
def watch(folder: Path, to: str | None, lang: str, interval: float, settle: float, once: bool, verbose: bool,
          **kw: Any) -> None:
    """Dub every timeline dropped into FOLDER (its script beside it, same name) into FOLDER/dubbed/<name>_<ext>/ (cut.xml -> dubbed/cut_xml/)."""
    from ..stages.options import DubOptions
    from ..stages.pipeline import dub
    from ..stages.watch import Watcher

    setup_logging(verbose)
    watcher = Watcher(folder, dub, DubOptions(lang=lang, to=to, **voice_settings(kw)), settle)

    def report(name: str, status: str) -> None:
        click.echo(f"{status}: {name}" + (f" (see {watcher.out_root / 'watch.log'})" if status == "failed" else ""))

    if once:
        watcher.ready()  # first sight of each file; a second look below tells whether it is still growing
        time.sleep(settle)
        for name, status in watcher.poll_once().items():
            report(name, status)
        return
    click.echo(f"Watching {folder} (Ctrl-C to stop); results in {watcher.out_root}")
    try:
        watcher.run(interval, report=report)
    except KeyboardInterrupt:
        click.echo("Stopped.")
