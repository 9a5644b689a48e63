"""``otio-dub transcribe``: spot a timeline's original dialogue into subtitles, a dialogue list and a
spotted timeline (a thin shell over ``otio_dub.listen.transcribe``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .common import existing, setup_logging, user_errors


@click.command()
@click.argument("timeline", type=existing)
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: ./<timeline name>_transcript).")
@click.option("--model", metavar="NAME|PATH",
              help="Whisper model: tiny.en or base (bundled), another faster-whisper name already in the cache, "
                   "or a CTranslate2 model folder (default: tiny.en for --lang en, else base).")
@click.option("--lang", metavar="L", help="Language spoken (ISO 639-1, e.g. en, fr); default: detected per clip.")
@click.option("--speakers", type=click.IntRange(min=1), metavar="N", help="How many voices, when known.")
@click.option("--enhance/--no-enhance", default=True, show_default=True,
              help="Take the noise out (DeepFilterNet3) before recognition, on clips whose noise floor is "
                   "within 20 dB of their speech.")
@click.option("--dialogue-track", "dialogue_tracks", multiple=True, metavar="NAME|INDEX",
              help="Audio track(s) to listen to (default: DIA/DX/DIALOGUE tracks, else all audio tracks).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), metavar="N",
              help="Processes to hear clips in, the cores shared among them (default: one per core); the same "
                   "files whatever N.")
@click.option("--ray", "ray", metavar="ADDRESS", is_flag=False, flag_value="local",
              help="Hear clips as Ray tasks: 'auto' or ray://HOST:10001 for a running cluster; --ray alone starts "
                   "a local Ray instance (on --jobs cores, default all). Needs the ray extra.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@user_errors
def transcribe(timeline: Path, out_dir: Path | None, model: str | None, lang: str | None, speakers: int | None,
               enhance: bool, dialogue_tracks: tuple[str, ...], jobs: int | None, ray: str | None, quiet: bool,
               verbose: bool) -> None:
    """Transcribe TIMELINE's dialogue: <name>.ass/.srt/.vtt, <name>.csv, <name>.transcript.json, <name>.spotted.otio."""
    from ..listen import transcribe as run

    setup_logging(verbose)
    started = time.perf_counter()
    bar = None

    def progress(done: int, total: int, what: str) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="Listening", file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(1)
        if done == total:
            bar.__exit__(None, None, None)

    out = out_dir or Path.cwd() / f"{timeline.stem}_transcript"
    try:
        result = run(timeline, out, model=model, lang=lang, speakers=speakers, enhance=enhance,
                     dialogue_tracks=dialogue_tracks, progress=progress, jobs=jobs, ray=ray)
    finally:
        if bar is not None and not bar.finished:
            bar.__exit__(None, None, None)
    if quiet:
        return
    t = result.transcript
    click.echo(f"{len(t.events)} lines from {len(t.clips) - len(t.skipped)} clips, language {t.lang}, "
               f"speakers: {', '.join(t.speakers) or 'none'}")
    for line in t.skipped:
        click.echo(f"  SKIPPED {line}")
    for kind, path in result.files.items():
        click.echo(f"{kind:>5}: {path}")
    click.echo(f"Done in {time.perf_counter() - started:.1f} s.")
