"""The dubbing commands: ``dub``, ``conform``, ``lines`` and ``stems``."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # the class click.progressbar returns (not exported)

from ..engines import BEST
from ..timelines.formats import FORMATS
from .common import (
    bundle,
    cache_options,
    cache_setting,
    existing,
    fit_options,
    fit_policy,
    line_options,
    out_folder,
    setup_logging,
    stem_lines,
    stem_options,
    stem_settings,
    user_errors,
    voice_options,
    voice_settings,
)


def _ids(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _formats(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    return tuple(v.strip().lower() for v in (value or "").split(",") if v.strip())


#: Options of the runs that render (dub and conform).
run_options = bundle(
    click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
                 help="Lines rendered at once, one process each (default: every core)."),
    click.option("--ray", "ray", metavar="ADDRESS", is_flag=False, flag_value="local",
                 help="Render lines as Ray tasks: 'auto' or ray://HOST:10001 for a running cluster; "
                      "--ray alone starts a local Ray instance. Needs the ray extra."),
    click.option("--aaf-embed", is_flag=True, help="With --to aaf: embed the line media in the AAF instead of linking."),
    click.option("--subtitles", metavar="srt,vtt,ass", callback=_formats,
                 help="Also write subtitles/<lang>.<ext> of the dubbed lines, timed to the fitted speech."),
    click.option("--no-review", is_flag=True, help="Do not write review.html (and the originals it plays)."),
    click.option("--match/--no-match", "match", default=True, show_default=True,
                 help="Cast characters the cast file leaves open from the original actors' speech, where the "
                      "dialogue clips' media can be read (see `otio-dub cast --match`)."),
)

#: Translating the lines on the way (otio-dub translate does the same and writes the bilingual list).
translate_options = bundle(
    click.option("--translate", "translate", metavar="LANG",
                 help="Translate the lines into LANG (fitted to each window) and dub the translation."),
    click.option("--translator", metavar="NAME", help="With --translate: bergamot, apertium, llm or deepl "
                                                     "(default: the first offline one with the pair)."),
    click.option("--glossary", type=existing, metavar="FILE", help="With --translate: terms kept as given."),
)


def dub_options(kw: dict[str, Any]) -> Any:
    """DubOptions from the options of `dub` and `conform`, taken out of ``kw`` (all of them)."""
    from ..stages.options import DubOptions

    options = DubOptions(lang=kw.pop("lang"), script_offset=kw.pop("script_offset"), to=kw.pop("to"),
                         rate=kw.pop("rate"), start=kw.pop("start"), dialogue_tracks=kw.pop("dialogue_tracks"),
                         drop_frame=kw.pop("drop_frame"), policy=fit_policy(kw), **voice_settings(kw),
                         **stem_settings(kw), cache=cache_setting(kw), jobs=kw.pop("jobs"), ray=kw.pop("ray"),
                         aaf_embed=kw.pop("aaf_embed"), subtitles=kw.pop("subtitles"), review=not kw.pop("no_review"),
                         only_lines=kw.pop("only_lines", ()), match=kw.pop("match"),
                         translate=kw.pop("translate", None), translator=kw.pop("translator", None),
                         glossary=kw.pop("glossary", None))
    if kw:
        raise click.UsageError(f"unhandled options: {', '.join(sorted(kw))}")
    return options


class _Progress:
    """A progress bar on stderr that opens on the first line and always closes."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: ProgressBar[int] | None = None  # opened on the first line done

    def __call__(self, done: int, total: int, line: Any) -> None:
        if self.quiet:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="Rendering", file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        self.bar.update(1)
        if done == total:
            self.close()

    def close(self) -> None:
        if self.bar is not None and not self.bar.finished:
            self.bar.__exit__(None, None, None)
        self.bar = None


@click.command()
@line_options
@click.option("-o", "--out", "out_dir", type=out_folder,
              help="Output folder (default: ./<timeline name>_dub).")
@click.option("--to", "to", type=click.Choice(list(FORMATS)),
              help="Format of the dub timeline (default: the input's). A .dub.otio is always written too.")
@voice_options
@fit_options
@stem_options
@cache_options
@run_options
@translate_options
@click.option("--only-lines", "only_lines", metavar="ID,ID", callback=_ids,
              help="Speak just these lines again (after review notes); every other line keeps its take from the dub in -o.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
@user_errors
def dub(timeline: Path, script: Path | None, out_dir: Path | None, verbose: bool, quiet: bool, **kw: Any) -> None:
    """Dub TIMELINE: write <name>.dub.otio, media/, stems/, report.json and review.html into the output folder."""
    from ..stages.pipeline import dub as run_dub

    setup_logging(verbose)
    options = dub_options(kw)
    started = time.perf_counter()
    bar = _Progress(quiet)
    try:
        result = run_dub(timeline, script, out_dir, options, bar)
    finally:
        bar.close()
    if not quiet:
        _summary(result, started)


def _summary(result: Any, started: float) -> None:
    s = result.summary
    click.echo(f"Voices: {', '.join(f'{k} = {v}' for k, v in result.voices.items())}")
    click.echo(f"{s['lines']} lines: {s['fit']} fitted within 1 frame, {s['padded']} padded, "
               f"{s['borrowed']} borrowed, {s['overrun']} overrun")
    if result.takes:
        click.echo("Takes: " + ", ".join(f"{n} {what}" for what, n in sorted(result.takes.items())))
    if "unchanged" in result.takes:
        click.echo("Nothing changed since the last dub into this folder: it is kept as it is, nothing written.")
    for row in result.lines:
        if row["status"] == "overrun":
            click.echo(f"  OVERRUN {row['id']} at {row['record_in']}: {row['note']}")
    click.echo(f"Dub timeline: {result.timeline_path}")
    for path in result.exports:
        click.echo(f"              {path}")
    if result.stems:
        click.echo(f"Stems:        {next(iter(result.stems.values())).parent}/ ({', '.join(result.stems)})")
        for text in stem_lines(result.stem_report):
            click.echo(text)
    click.echo(f"Report:       {result.report_path}")
    review = result.out_dir / "review.html"
    if review.is_file():
        click.echo(f"Review page:  {review}")
    click.echo(f"Done in {time.perf_counter() - started:.1f} s.")


@click.command()
@line_options
@user_errors
def lines(timeline: Path, script: Path | None, script_offset: str | None, lang: str, dialogue_tracks: tuple[str, ...],
          rate: float | None, start: str | None, drop_frame: bool | None, verbose: bool) -> None:
    """List the dialogue lines found in TIMELINE (and --script), with timecodes and sources."""
    from ..stages.options import DubOptions
    from ..stages.plan import collect_lines
    from ..timelines.timeline_io import read_timeline

    setup_logging(verbose)
    options = DubOptions(lang=lang, script_offset=script_offset, dialogue_tracks=dialogue_tracks, drop_frame=drop_frame,
                         engine=BEST)  # listing lines speaks none: the house engine need not even be valid
    tb, found = collect_lines(read_timeline(timeline, rate, start, drop_frame), script, options, where=str(timeline))
    header = ("ID", "IN", "OUT", "CHARACTER", "LANG", "SOURCE", "TRACK", "TEXT")
    rows = [(ln.id, tb.tc(ln.record_in), tb.tc(ln.record_out), ln.character, ln.lang, ln.origin,
             ln.track_name if ln.track_name is not None else "-", ln.text) for ln in found]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row[:-1], widths, strict=True)) + "  " + str(row[-1]))


@click.command()
@click.argument("old_dub", type=existing)
@line_options
@click.option("-o", "--out", "out_dir", type=out_folder, required=True,
              help="Output folder for the conformed dub.")
@click.option("--to", "to", type=click.Choice(list(FORMATS)), help="Format of the dub timeline (default: NEW_CUT's).")
@voice_options
@fit_options
@stem_options
@cache_options
@run_options
@click.option("--reset", is_flag=True, help="Drop the editor's hand edits to the old dub clips.")
@click.option("-q", "--quiet", is_flag=True, help="No change list.")
@user_errors
def conform(old_dub: Path, timeline: Path, script: Path | None, out_dir: Path, verbose: bool, quiet: bool,
            reset: bool, **kw: Any) -> None:
    """Carry OLD_DUB (a .dub.otio) across the re-cut TIMELINE: reuse kept and moved takes, refit
    trimmed lines, speak changed and new ones, drop removed ones; write conform.json."""
    from ..stages.conform import conform as run_conform
    from ..stages.conform import print_table

    setup_logging(verbose)
    options = dub_options(kw)
    started = time.perf_counter()
    result = run_conform(old_dub, timeline, out_dir, script, options, reset=reset)
    if quiet:
        return
    for row in print_table(result.changes):
        click.echo(row)
    click.echo(", ".join(f"{n} {kind}" for kind, n in result.counts.items()) + "; takes: "
               + ", ".join(f"{n} {what}" for what, n in sorted(result.dub.takes.items())))
    click.echo(f"Dub timeline: {result.dub.timeline_path}\nChanges:      {result.path}")
    click.echo(f"Done in {time.perf_counter() - started:.1f} s.")


@click.command("stems")
@click.argument("dub_timeline", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=out_folder,
              help="Folder for the stems and stems.json (their loudness report).")
@stem_options
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
              help="Threads that measure and write the stems (default: every core).")
@click.option("-v", "--verbose", is_flag=True, help="Print debug messages.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
@user_errors
def stems_command(dub_timeline: Path, out_dir: Path, verbose: bool, quiet: bool, **kw: Any) -> None:
    """Re-render the stems of DUB_TIMELINE as it is now: dub clips moved, trimmed, deleted or disabled in the NLE.

    Reads .otio, .otioz, .otiod, FCP7 XML, FCPXML and AAF; a dub clip is known by its otio_dub metadata, its
    "DUB <lang> <CHARACTER>" track or its otio-dub line media. Line media are read, never rewritten.
    """
    from ..delivery.stems import MANIFEST, restem

    setup_logging(verbose)
    options = replace(stem_settings(kw)["stems"], jobs=kw.pop("jobs"))
    if kw:
        raise click.UsageError(f"unhandled options: {', '.join(sorted(kw))}")
    _check_stems_folder(dub_timeline, out_dir)
    started = time.perf_counter()
    result = restem(dub_timeline, out_dir, options)
    _refresh_review(dub_timeline, out_dir)
    if quiet:
        return
    click.echo(f"Stems:        {out_dir}/ ({', '.join(result.files)})")
    for text in stem_lines(result.report(out_dir)):
        click.echo(text)
    click.echo(f"Report:       {out_dir / MANIFEST}")
    click.echo(f"Done in {time.perf_counter() - started:.1f} s.")


def _check_stems_folder(dub_timeline: Path, out_dir: Path) -> None:
    """Refuse a stems folder that is, or is inside, the dub's line media (inputs are read-only)."""
    base = (dub_timeline if dub_timeline.is_dir() else dub_timeline.parent).resolve()
    target = out_dir.resolve()
    media = base / "media"
    if target == media or media in target.parents:
        raise click.ClickException(f"{out_dir}: would write stems among the dub's line media; "
                                   "give the stems their own folder, e.g. -o <dub>/stems")


def _refresh_review(dub_timeline: Path, out_dir: Path) -> None:
    """Rebuild the dub folder's review page after its stems changed (when the stems are the dub's own)."""
    folder = dub_timeline if dub_timeline.is_dir() else dub_timeline.parent
    if out_dir.resolve() == (folder / "stems").resolve() and (folder / "review.html").is_file():
        from ..review.page import write_review

        write_review(folder)
