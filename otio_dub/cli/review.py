"""``otio-dub review`` and ``otio-dub notes``: the review page of a dub, and its notes back into the edit."""

from __future__ import annotations

from pathlib import Path

import click

from .common import user_errors

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
