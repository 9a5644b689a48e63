"""The voice commands: ``engines``, ``voices`` and ``cast``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import line_options, setup_logging, table, user_errors


@click.command()
@user_errors
def engines() -> None:
    """List the TTS engines: built in and installed through the otio_dub.engines entry point."""
    from ..core.errors import EngineError
    from ..engines import available_engines, get_engine

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
    table(rows)


@click.command()
@click.argument("engine", default="espeak")
@click.option("--lang", help="Only voices that speak this language (e.g. en, en-us, de).")
@click.option("--download", "downloads", multiple=True, metavar="NAME",
              help="piper: download a voice of Piper's repository by name (e.g. de_DE-thorsten-medium) into the "
                   "voice cache, checked, for offline use (repeatable; mirror: $OTIO_DUB_PIPER_URL).")
@user_errors
def voices(engine: str, lang: str | None, downloads: tuple[str, ...]) -> None:
    """List ENGINE's voices (default: espeak) with their languages and variants or speakers."""
    from ..engines import get_engine

    if downloads:
        from ..engines.piper_voices import fetch_voice

        if engine != "piper":
            raise click.ClickException(f"--download is for piper voices; engine {engine!r} has nothing to download")
        for name in downloads:
            model, _ = fetch_voice(name, progress=lambda msg: click.echo(msg, err=True))
            click.echo(f"{name}: {model}")
        return
    found = get_engine(engine).voices(lang)
    if not found:
        raise click.ClickException(f"engine {engine!r} has no voice for language {lang!r}")
    rows: list[tuple[Any, ...]] = [("VOICE", "NAME", "LANGUAGES", "VARIANTS / SPEAKERS")]
    for v in found:
        extra = ", ".join(v.speakers[:8]) + (", ..." if len(v.speakers) > 8 else "")
        rows.append((v.id, v.name, ", ".join(v.languages), extra or "-"))
    table(rows)


@click.command()
@line_options
@click.option("--engine", default=None, help="Engine to cast every character with (default: the best installed "
                                              "voice of each language by measured WER; with --match, the closest).")
@click.option("--match", "match", is_flag=True,
              help="Hear the original actors in the dialogue clips' media and give each character the closest "
                   "distinct voice and a pitch offset; the file says why for each character.")
@user_errors
def cast(timeline: Path, script: Path | None, script_offset: str | None, lang: str, dialogue_tracks: tuple[str, ...],
         rate: float | None, start: str | None, drop_frame: bool | None, verbose: bool, engine: str | None,
         match: bool) -> None:
    """Print a starter cast file for the characters of TIMELINE (and --script): `> cast.toml`."""
    from ..casting.auto import evidence
    from ..casting.cast import CastEntry, starter_cast
    from ..casting.voices import assign
    from ..stages.options import DubOptions, default_engine
    from ..stages.plan import cast_of, collect_lines, with_sidecar_cast
    from ..timelines.timeline_io import read_timeline

    setup_logging(verbose)
    engine = engine or default_engine()  # the house's ($OTIO_DUB_ENGINE), else best
    options = DubOptions(engine=engine, lang=lang, script_offset=script_offset,
                         dialogue_tracks=dialogue_tracks)
    source = read_timeline(timeline, rate, start, drop_frame)
    _, found = collect_lines(source, script, options, where=str(timeline))
    matches, comments = {}, {}
    if match:
        from ..casting.matching import match_voices

        matches = match_voices(source, found, timeline.resolve().parent, None if engine == "best" else [engine])
        comments = {name: m.comment() for name, m in matches.items()}
    sidecar = cast_of(with_sidecar_cast(timeline, options))  # only its genders: the starter proposes the voices
    known = {name: CastEntry(name, gender=entry.gender) for name, entry in sidecar.items() if entry.gender}
    best = engine == "best"
    performers = assign(found, known, "espeak" if best else engine, matches, prefer_neural=best)
    entries, seen = [], set()
    for (character, line_lang), p in performers.items():
        if character in seen:  # one entry per character: its first language
            continue
        seen.add(character)
        actor = matches[character].actor_f0 if character in matches else None
        gender = evidence(character, known.get(character), found, actor).gender
        entries.append(CastEntry(character, p.engine, p.spec.voice, line_lang, pitch=p.semitones,
                                 speaker=p.spec.speaker, gender=gender))
    click.echo(starter_cast(entries, comments), nl=False)
