"""The ``otio-dub`` command: a thin click shell over the library.

Library errors (OtioDubError) become one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import OtioDubError
from .fit import ALIGNMENTS, OVERFLOW_POLICIES, FitPolicy
from .formats import FORMATS


class _WarningHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{record.levelname.lower()}: {record.getMessage()}", err=True)


def _setup_logging(verbose: bool) -> None:
    log = logging.getLogger("otio_dub")
    if not any(isinstance(h, _WarningHandler) for h in log.handlers):
        log.addHandler(_WarningHandler())
    log.setLevel(logging.DEBUG if verbose else logging.WARNING)
    log.propagate = False


def _user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into click's one-line ``Error: ...`` with exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OtioDubError as exc:
            raise click.ClickException(str(exc)) from None
        except BrokenPipeError:  # `otio-dub lines ... | head`: the reader left, nothing to report
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except OSError as exc:  # disk full, permission denied, ...: name the file
            raise click.ClickException(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None

    return wrapper


_existing = click.Path(exists=True, dir_okay=False, path_type=Path)


def _bundle(*decorators: Callable[..., Any]) -> Callable[..., Any]:
    """Apply a group of click options in the order they are listed (as --help shows them)."""

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


#: Options shared by every command that finds dialogue lines.
_line_options = _bundle(
        click.argument("timeline", type=_existing),
        click.option("--script", "-s", type=_existing,
                     help="Dialogue script to dub: SRT, ASS/SSA, VTT, or a dialogue list (CSV/TSV, absolute timecode)."),
        click.option("--script-offset", metavar="TC",
                     help="Timecode of the script's 00:00:00 (default: the timeline's start timecode)."),
        click.option("--lang", default="en", show_default=True, help="Language of lines that do not name one."),
        click.option("--dialogue-track", "dialogue_tracks", multiple=True, metavar="NAME|INDEX",
                     help="Dialogue audio track (name, 1-based index or A1); repeatable. Default: tracks named "
                          "DIA, DX, DIALOG(UE), VO or ADR, else all audio tracks."),
        click.option("--rate", type=click.FloatRange(min=1, max=240), metavar="FPS",
                     help="Frame rate of inputs that carry none: EDL, subtitle script or dialogue list as TIMELINE."),
        click.option("--start", metavar="TC",
                     help="Start timecode when TIMELINE is a subtitle script or dialogue list (default 00:00:00:00 "
                          "for scripts, the first row's hour for lists)."),
        click.option("-v", "--verbose", is_flag=True, help="Print debug messages."),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="otio-dub")
def main() -> None:
    """Dub an edit timeline: find its dialogue, speak it fitted to each clip, write it back with stems."""


_fit_options = _bundle(
    click.option("--max-speedup", type=float, default=1.25, show_default=True, help="Fastest allowed speech, x natural."),
    click.option("--max-slowdown", type=float, default=0.9, show_default=True, help="Slowest allowed speech, x natural."),
    click.option("--overflow", type=click.Choice(OVERFLOW_POLICIES), default="borrow", show_default=True,
                 help="Speech too long at max speed-up: borrow silence after the line, place it whole (overrun), or stop."),
    click.option("--max-borrow", type=click.IntRange(min=0), default=500, show_default=True, metavar="MS",
                 help="Most silence to borrow after a line, in ms."),
    click.option("--align", type=click.Choice(ALIGNMENTS), default="start", show_default=True,
                 help="Where speech sits in its clip: at its start, centred, or on the original speech "
                      "detected in the dialogue clip's media (guide)."),
    click.option("--passes", type=click.IntRange(min=1), default=3, show_default=True,
                 help="Synthesis passes per line for rate fitting."),
    click.option("--head-pad", type=click.IntRange(min=0), default=0, show_default=True, metavar="MS",
                 help="Silence kept at a clip's head."),
    click.option("--tail-pad", type=click.IntRange(min=0), default=0, show_default=True, metavar="MS",
                 help="Silence kept at a clip's tail."),
)


def _fit_policy(kw: dict[str, Any]) -> FitPolicy:
    """The fit options, taken out of ``kw``, as a FitPolicy (bad combinations are a usage error)."""
    try:
        return FitPolicy(kw.pop("max_speedup"), kw.pop("max_slowdown"), kw.pop("overflow"), kw.pop("max_borrow"),
                         kw.pop("align"), kw.pop("passes"), kw.pop("head_pad"), kw.pop("tail_pad"))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


_voice_options = _bundle(
    click.option("--engine", default="espeak", show_default=True,
                 help="Engine for characters without a cast entry (see `otio-dub engines`)."),
    click.option("--cast", "cast_file", type=_existing, metavar="CAST.toml",
                 help="Voice per character (write a starter with `otio-dub cast`)."),
)


def _voice_settings(kw: dict[str, Any]) -> dict[str, Any]:
    """DubOptions fields from the voice options, taken out of ``kw``."""
    return {"engine": kw.pop("engine"), "cast": kw.pop("cast_file")}


def _loudness_target(ctx: click.Context, param: click.Parameter, value: str) -> float | None:
    if value.strip().lower() in ("off", "none"):
        return None
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a loudness in LKFS (e.g. -27, -23) or 'off'") from None


_stem_options = _bundle(
    click.option("--stems", "stem_mode", type=click.Choice(["character", "language", "none"]), default="character",
                 show_default=True, help="Stems: one per character (and per language when there are several) plus "
                                         "DIALOGUE; per language plus DIALOGUE; or none."),
    click.option("--loudness", default="-27", show_default=True, metavar="LKFS|off", callback=_loudness_target,
                 help="Integrated loudness (ITU-R BS.1770) of the DIALOGUE stem: -27 dialogue, -23 EBU R128, "
                      "or off. One gain per character for the whole programme."),
    click.option("--true-peak", type=float, default=-2.0, show_default=True, metavar="DBTP",
                 help="True-peak ceiling of DIALOGUE (4x oversampled): the level goes down if the target would pass it."),
    click.option("--mix-with", type=click.Path(dir_okay=False, path_type=Path), metavar="M_AND_E.wav",
                 help="Also write MIX.wav: the dialogue over this 48 kHz M&E (mono, stereo, 5.1 or 7.1), aligned by "
                      "its bext timecode, exactly the timeline's length."),
    click.option("--no-stems", is_flag=True, hidden=True, help="Same as --stems none."),
)


def _stem_settings(kw: dict[str, Any]) -> dict[str, Any]:
    """DubOptions fields from the stem options, taken out of ``kw``."""
    from .stems import StemOptions

    mode = kw.pop("stem_mode")
    if kw.pop("no_stems"):
        mode = "none"
    try:
        return {"stems": StemOptions(mode, kw.pop("loudness"), kw.pop("true_peak"), kw.pop("mix_with"))}
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _stem_lines(section: dict) -> list[str]:
    """The loudness of each stem, as printed after a render."""
    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:+.1f}"

    rows = [("", "LKFS", "dBTP", "gain dB")]
    for name, f in section.get("files", {}).items():
        rows.append((name, num(f["integrated_lkfs"]), num(f["true_peak_dbtp"]),
                     "" if f["gain_db"] is None else num(f["gain_db"])))
    if len(rows) == 1:
        return []
    width = max(len(r[0]) for r in rows)
    lines = [f"  {r[0].ljust(width)}  {r[1]:>6}  {r[2]:>6}  {r[3]:>7}".rstrip() for r in rows]
    plan = section.get("loudness")
    if plan and plan["level_set_by"] == "true_peak":
        lines.append(f"  the {plan['true_peak_limit_dbtp']} dBTP true-peak limit, not the {plan['target_lkfs']} LKFS "
                     "target, set the dialogue level")
    return lines


_cache_options = _bundle(
    click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
                 help="Render cache (default: the user cache dir, or $OTIO_DUB_CACHE); share one on a network drive."),
    click.option("--no-cache", is_flag=True, help="Synthesize and fit every line, store nothing."),
)


def _dub_options(kw: dict[str, Any]) -> Any:
    """DubOptions from the options of `dub` and `conform`, taken out of ``kw`` (all of them)."""
    from .pipeline import DubOptions

    options = DubOptions(lang=kw.pop("lang"), script_offset=kw.pop("script_offset"), to=kw.pop("to"),
                         rate=kw.pop("rate"), start=kw.pop("start"), dialogue_tracks=kw.pop("dialogue_tracks"),
                         policy=_fit_policy(kw), **_voice_settings(kw), **_stem_settings(kw), cache=_cache_setting(kw))
    if kw:
        raise click.UsageError(f"unhandled options: {', '.join(sorted(kw))}")
    return options


@main.command()
@_line_options
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: ./<timeline name>_dub).")
@click.option("--to", "to", type=click.Choice(list(FORMATS)),
              help="Format of the dub timeline (default: the input's). A .dub.otio is always written too.")
@_voice_options
@_fit_options
@_stem_options
@_cache_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
@_user_errors
def dub(timeline: Path, script: Path | None, out_dir: Path | None, verbose: bool, quiet: bool, **kw: Any) -> None:
    """Dub TIMELINE: write <name>.dub.otio, media/, stems/ and report.json into the output folder."""
    from .pipeline import dub as run_dub

    _setup_logging(verbose)
    options = _dub_options(kw)
    started = time.perf_counter()
    bar = None

    def progress(done: int, total: int, line: Any) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="Synthesizing", file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(1)
        if done == total:
            bar.__exit__(None, None, None)

    try:
        result = run_dub(timeline, script, out_dir, options, progress)
    finally:
        if bar is not None and not bar.finished:
            bar.__exit__(None, None, None)
    if quiet:
        return
    s = result.summary
    click.echo(f"Voices: {', '.join(f'{k} = {v}' for k, v in result.voices.items())}")
    click.echo(f"{s['lines']} lines: {s['fit']} fitted within 1 frame, {s['padded']} padded, "
               f"{s['borrowed']} borrowed, {s['overrun']} overrun")
    if result.takes:
        click.echo("Takes: " + ", ".join(f"{n} {what}" for what, n in sorted(result.takes.items())))
    for row in result.lines:
        if row["status"] == "overrun":
            click.echo(f"  OVERRUN {row['id']} at {row['record_in']}: {row['note']}")
    click.echo(f"Dub timeline: {result.timeline_path}")
    for path in result.exports:
        click.echo(f"              {path}")
    if result.stems:
        click.echo(f"Stems:        {next(iter(result.stems.values())).parent}/ ({', '.join(result.stems)})")
        for text in _stem_lines(result.stem_report):
            click.echo(text)
    click.echo(f"Report:       {result.report_path}")
    click.echo(f"Done in {time.perf_counter() - started:.1f} s.")


@main.command()
@_line_options
@_user_errors
def lines(timeline: Path, script: Path | None, script_offset: str | None, lang: str,
          dialogue_tracks: tuple[str, ...], rate: float | None, start: str | None, verbose: bool) -> None:
    """List the dialogue lines found in TIMELINE (and --script), with timecodes and sources."""
    from .pipeline import DubOptions, collect_lines, read_timeline

    _setup_logging(verbose)
    options = DubOptions(lang=lang, script_offset=script_offset, dialogue_tracks=dialogue_tracks)
    tb, found = collect_lines(read_timeline(timeline, rate, start), script, options)
    header = ("ID", "IN", "OUT", "CHARACTER", "LANG", "SOURCE", "TRACK", "TEXT")
    rows = [(ln.id, tb.tc(ln.record_in), tb.tc(ln.record_out), ln.character, ln.lang, ln.origin,
             ln.track_name if ln.track_name is not None else "-", ln.text) for ln in found]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row[:-1], widths, strict=True)) + "  " + str(row[-1]))


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--to", "to", type=click.Choice(list(FORMATS)), help="Format of the dub timelines (default: each input's).")
@_voice_options
@click.option("--lang", default="en", show_default=True, help="Language of lines that do not name one.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True, help="Seconds between polls.")
@click.option("--settle", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Seconds a file must stay unchanged before it is dubbed.")
@click.option("--once", is_flag=True, help="Dub what is ready now and exit (for scripts and cron).")
@click.option("-v", "--verbose", is_flag=True, help="Print debug messages.")
@_user_errors
def watch(folder: Path, to: str | None, lang: str, interval: float, settle: float, once: bool, verbose: bool,
          **kw: Any) -> None:
    """Dub every timeline dropped into FOLDER (its script beside it, same name) into FOLDER/dubbed/<name>/."""
    from .pipeline import DubOptions, dub
    from .watch import Watcher

    _setup_logging(verbose)
    watcher = Watcher(folder, dub, DubOptions(lang=lang, to=to, **_voice_settings(kw)), settle)

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


@main.command()
@click.argument("old_dub", type=_existing)
@_line_options
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder for the conformed dub.")
@click.option("--to", "to", type=click.Choice(list(FORMATS)), help="Format of the dub timeline (default: NEW_CUT's).")
@_voice_options
@_fit_options
@_stem_options
@_cache_options
@click.option("--reset", is_flag=True, help="Drop the editor's hand edits to the old dub clips.")
@click.option("-q", "--quiet", is_flag=True, help="No change list.")
@_user_errors
def conform(old_dub: Path, timeline: Path, script: Path | None, out_dir: Path, verbose: bool, quiet: bool,
            reset: bool, **kw: Any) -> None:
    """Carry OLD_DUB (a .dub.otio) across the re-cut TIMELINE: reuse kept and moved takes, refit
    trimmed lines, speak changed and new ones, drop removed ones; write conform.json."""
    from .conform import conform as run_conform
    from .conform import print_table

    _setup_logging(verbose)
    options = _dub_options(kw)
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


def _cache_setting(kw: dict[str, Any]) -> Path | None:
    """The render-cache folder from --cache / --no-cache (default: the user cache dir)."""
    from .cache import default_folder

    folder, off = kw.pop("cache_dir"), kw.pop("no_cache")
    return None if off else (folder or default_folder())


@main.group()
def cache() -> None:
    """Inspect or prune the render cache of fitted takes."""


_cache_option = click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
                             help="Cache folder (default: the user cache dir, or $OTIO_DUB_CACHE).")


@cache.command("info")
@_cache_option
@_user_errors
def cache_info(cache_dir: Path | None) -> None:
    """Where the cache is, how many takes it holds and how big it is."""
    from .cache import RenderCache, default_folder

    store = RenderCache(cache_dir or default_folder())
    info = store.info()
    store.close()
    def when(t: float | None) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"

    click.echo(f"Cache:   {info['folder']}\nTakes:   {info['entries']}\nSize:    {info['bytes'] / 1e6:.1f} MB\n"
               f"Used:    {when(info['oldest_use'])} .. {when(info['newest_use'])}")


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    try:
        value = float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text) * 86400
    except (ValueError, IndexError):
        value = float("nan")
    if not value >= 0 or value == float("inf"):  # nan, negative, infinite
        raise click.BadParameter(f"{text!r} is not a duration like 30d, 12h or 2w", param_hint="--older-than")
    return value


@cache.command("prune")
@_cache_option
@click.option("--older-than", metavar="AGE", help="Drop takes unused for AGE (30d, 12h, 2w; a bare number is days).")
@click.option("--all", "everything", is_flag=True, help="Drop every take.")
@_user_errors
def cache_prune(cache_dir: Path | None, older_than: str | None, everything: bool) -> None:
    """Drop old takes (and files a killed run left behind)."""
    from .cache import RenderCache, default_folder

    if not everything and older_than is None:
        raise click.UsageError("say --older-than AGE or --all")
    age = None if everything else _duration(older_than)  # before the cache folder is touched
    store = RenderCache(cache_dir or default_folder())
    try:
        removed = store.prune(age)
    finally:
        store.close()
    click.echo(f"Removed {removed} take(s) from {store.folder}")


def _table(rows: list[tuple[Any, ...]]) -> None:
    """Print rows as aligned columns (the last column is not padded)."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row[:-1], widths, strict=True)) + "  " + str(row[-1]))


@main.command()
@_user_errors
def engines() -> None:
    """List the TTS engines: built in and installed through the otio_dub.engines entry point."""
    from .engines import available_engines, get_engine
    from .errors import EngineError

    rows: list[tuple[Any, ...]] = [("ENGINE", "STATUS", "RATE CONTROL", "SAMPLE RATE", "DETERMINISTIC", "LANGUAGES")]
    for name in sorted(available_engines()):
        try:
            engine = get_engine(name)
        except EngineError as exc:
            rows.append((name, "not available", "-", "-", "-", str(exc)))
            continue
        info = engine.info
        speed = f"{info.speed_range[0]:.2f}x-{info.speed_range[1]:.2f}x" if info.speed_range else "no"
        rows.append((name, f"ready ({info.version})", speed, f"{info.sample_rate} Hz", "yes" if info.deterministic else "no",
                     len(engine.languages())))
    _table(rows)


@main.command()
@click.argument("engine", default="espeak")
@click.option("--lang", help="Only voices that speak this language (e.g. en, en-us, de).")
@_user_errors
def voices(engine: str, lang: str | None) -> None:
    """List ENGINE's voices (default: espeak) with their languages and variants or speakers."""
    from .engines import get_engine

    found = get_engine(engine).voices(lang)
    if not found:
        raise click.ClickException(f"engine {engine!r} has no voice for language {lang!r}")
    rows: list[tuple[Any, ...]] = [("VOICE", "NAME", "LANGUAGES", "VARIANTS / SPEAKERS")]
    for v in found:
        extra = ", ".join(v.speakers[:8]) + (", ..." if len(v.speakers) > 8 else "")
        rows.append((v.id, v.name, ", ".join(v.languages), extra or "-"))
    _table(rows)


@main.command()
@_line_options
@click.option("--engine", default="espeak", show_default=True, help="Engine to cast every character with.")
@_user_errors
def cast(timeline: Path, script: Path | None, script_offset: str | None, lang: str, dialogue_tracks: tuple[str, ...],
         rate: float | None, start: str | None, verbose: bool, engine: str) -> None:
    """Print a starter cast file for the characters of TIMELINE (and --script): `> cast.toml`."""
    from .cast import CastEntry, starter_cast
    from .pipeline import DubOptions, collect_lines, read_timeline
    from .voices import assign

    _setup_logging(verbose)
    options = DubOptions(engine=engine, lang=lang, script_offset=script_offset, dialogue_tracks=dialogue_tracks)
    _, found = collect_lines(read_timeline(timeline, rate, start), script, options)
    performers = assign(found, {}, engine)
    entries, seen = [], set()
    for (character, line_lang), p in performers.items():
        if character in seen:  # one entry per character: its first language
            continue
        seen.add(character)
        entries.append(CastEntry(character, p.engine, p.spec.voice, line_lang, speaker=p.spec.speaker))
    click.echo(starter_cast(entries), nl=False)


@main.command("stems")
@click.argument("dub_timeline", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the stems and stems.json (their loudness report).")
@_stem_options
@click.option("-v", "--verbose", is_flag=True, help="Print debug messages.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
@_user_errors
def stems_command(dub_timeline: Path, out_dir: Path, verbose: bool, quiet: bool, **kw: Any) -> None:
    """Re-render the stems of DUB_TIMELINE as it is now: dub clips moved, trimmed, deleted or disabled in the NLE.

    Reads .otio, .otioz, .otiod, FCP7 XML, FCPXML and AAF; a dub clip is known by its otio_dub metadata, its
    "DUB <lang> <CHARACTER>" track or its otio-dub line media. Line media are read, never rewritten.
    """
    from .stems import MANIFEST, restem

    _setup_logging(verbose)
    options = _stem_settings(kw)["stems"]
    assert not kw, f"unhandled options: {sorted(kw)}"
    started = time.perf_counter()
    result = restem(dub_timeline, out_dir, options)
    if quiet:
        return
    click.echo(f"Stems:        {out_dir}/ ({', '.join(result.files)})")
    for text in _stem_lines(result.report(out_dir)):
        click.echo(text)
    click.echo(f"Report:       {out_dir / MANIFEST}")
    click.echo(f"Done in {time.perf_counter() - started:.1f} s.")
