"""``otio-dub translate``: a script, dialogue list or timeline's lines into another language, each fitted
to its window (a thin shell over ``otio_dub.translation``)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .common import cache_options, cache_setting, existing, out_folder, setup_logging, user_errors


@click.command()
@click.argument("input_file", metavar="INPUT", type=existing)
@click.option("--to", "target", required=True, metavar="LANG", help="Language to translate into (pt-BR, es, ...).")
@click.option("--from", "source", metavar="LANG", help="Language of the lines (default: as the lines say, else en).")
@click.option("-o", "--out", "out_dir", type=out_folder, help="Output folder (default: ./<input name>_<LANG>).")
@click.option("--engine", "translator", metavar="NAME",
              help="Translator: bergamot, apertium, llm, deepl, or one a plug-in adds (default: the first offline "
                   "one that has the pair).")
@click.option("--glossary", type=existing, metavar="FILE", help="Terms kept as given: source<TAB>target per row (or CSV).")
@click.option("--keep", "keep_file", type=existing, metavar="LIST.csv",
              help="A bilingual list written before: its TRANSLATION cells (hand corrections) are kept as written.")
@click.option("--script", "-s", type=existing, help="Script or dialogue list of the lines when INPUT is a timeline.")
@click.option("--voice-engine", default=None, metavar="NAME|best",
              help="TTS engine the lengths are predicted with: the dub's --engine (default: best, as the dub).")
@click.option("--cast", "cast_file", type=existing, metavar="CAST.toml", help="The dub's cast file (voice per character).")
@click.option("--max-speedup", type=float, default=1.25, show_default=True, help="Fastest speech the dub allows.")
@click.option("--max-slowdown", type=float, default=0.9, show_default=True, help="Slowest speech the dub allows.")
@click.option("--no-fit", is_flag=True, help="Keep the first translation of each line (no second round).")
@click.option("--rate", type=click.FloatRange(min=1, max=240), metavar="FPS",
              help="Frame rate of inputs that carry none (subtitles, dialogue lists, EDL).")
@click.option("--start", metavar="TC", help="Start timecode when INPUT is a subtitle script or dialogue list.")
@cache_options
@click.option("-q", "--quiet", is_flag=True, help="No table.")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@user_errors
def translate(input_file: Path, target: str, source: str | None, out_dir: Path | None, translator: str | None,
              glossary: Path | None, keep_file: Path | None, script: Path | None, voice_engine: str | None,
              cast_file: Path | None, max_speedup: float, max_slowdown: float, no_fit: bool, rate: float | None,
              start: str | None, quiet: bool, verbose: bool, **kw: object) -> None:
    """Translate INPUT's lines into LANG, fitted to each window: <name>.<LANG>.csv/.ass/.srt/.vtt/.translate.json."""
    from ..speech.fit import FitPolicy
    from ..stages.options import DubOptions, default_engine
    from ..stages.translating import translate as run

    setup_logging(verbose)
    started = time.perf_counter()
    try:
        policy = FitPolicy(max_speedup=max_speedup, max_slowdown=max_slowdown)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    options = DubOptions(lang=source or "en", cast=cast_file, engine=voice_engine or default_engine(), policy=policy, rate=rate, start=start,
                         cache=cache_setting(kw))
    done = run(input_file, target, out_dir, script=script, source=source, translator=translator, glossary=glossary,
               keep=keep_file, fit=not no_fit, options=options)
    result, tb, written = done.translation, done.tb, done.files
    if quiet:
        return
    for row in result.rows:
        flag = f"  {'; '.join(row.flags)}" if row.flags else ""
        click.echo(f"{tb.tc(row.line.record_in)}  {row.line.character:<10} {row.budget_s:5.2f}s  "
                   f"{row.predicted_s:5.2f}s  x{row.speed:.2f}  {row.line.text}{flag}")
    within = sum(row.within(policy) for row in result.rows)
    literal = " (rule-based, literal: have every line read by an adapter)" if result.literal else ""
    click.echo(f"{len(result.rows)} lines {result.source} -> {result.target} with {result.translator}{literal}; "
               f"{within} within x{policy.max_slowdown:g}-x{policy.max_speedup:g}; "
               f"{result.engine_calls} translator call(s), {result.cache_hits} answers from the cache")
    for path in written:
        click.echo(f"  {path}")
    click.echo(f"Done in {time.perf_counter() - started:.1f} s.")
