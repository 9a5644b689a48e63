"""``otio-dub review`` and ``otio-dub notes``: the review page of a dub, and its notes back into the edit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import cache_options, cache_setting, user_errors

_dub_dir = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command("review")
@click.argument("dub_dir", type=_dub_dir)
@click.option("--media-root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder the original timeline's relative media paths start from (its own folder), to cut "
                   "the original dialogue under each line again for A/B listening.")
@user_errors
def review(dub_dir: Path, media_root: Path | None) -> None:
    """(Re)build DUB_DIR/review.html from the dub's report, timeline and media."""
    from ..review.originals import refresh_originals
    from ..review.page import write_review

    if media_root is not None:
        count = refresh_originals(dub_dir, media_root)
        click.echo(f"Originals:   {count} line(s) with original dialogue to compare")
    click.echo(f"Review page: {write_review(dub_dir)}")


@click.command("notes")
@click.argument("dub_dir", type=_dub_dir)
@click.argument("notes_file", type=click.Path(dir_okay=False, path_type=Path))
@user_errors
def notes(dub_dir: Path, notes_file: Path) -> None:
    """Put the reviewer's notes (review-notes.json) on the dub clips as markers and list the lines to redo."""
    from ..review.notes import apply_notes

    result = apply_notes(dub_dir, notes_file)
    if result.rows:
        width = max(len(r["id"]) for r in result.rows)
        click.echo(f"{'ID':<{width}}  {'IN':<11}  {'VERDICT':<8}  COMMENT")
        for r in result.rows:
            stale = "  (on an earlier take)" if r["stale"] else ""
            click.echo(f"{r['id']:<{width}}  {r['record_in']:<11}  {(r['verdict'] or 'note'):<8}  {r['comment']}{stale}".rstrip())
    click.echo(f"{len(result.rows)} note(s): {len(result.approved)} approved, {len(result.redo)} to redo")
    for path in result.files:
        click.echo(f"Updated:     {path}")
    if result.redo:
        click.echo(f"Redo with:   otio-dub dub TIMELINE [same options] -o {dub_dir} --only-lines {result.only_lines}")


@click.command("studio")
@click.argument("dub_dir", type=_dub_dir)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one chosen at random).")
@click.option("--open", "open_page", is_flag=True, help="Open the page in the default browser.")
@click.option("--mix-with", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The M&E of a dub delivered with a full mix (a keep renders the mix again).")
@cache_options
@user_errors
def studio(dub_dir: Path, port: int, open_page: bool, mix_with: Path | None, **kw: Any) -> None:
    """Serve DUB_DIR's review page with editing: change a line, hear it refitted, keep it in the dub."""
    from ..stages.studio import Session, StudioServer

    server = StudioServer(Session(dub_dir, cache_setting(kw), mix_with), port)
    click.echo(f"Studio:      {server.url}")
    if not server.session.lock:
        click.echo(f"Warning:     {server.session.folder_message} (keeping waits for it)")
    click.echo("Stop with Ctrl+C.")
    if open_page:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
