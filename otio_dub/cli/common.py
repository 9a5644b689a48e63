"""What every ``otio-dub`` command shares: one-line errors, logging for one command, option bundles."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..core.errors import OtioDubError
from ..core.worker_log import log_line
from ..speech.fit import ALIGNMENTS, OVERFLOW_POLICIES, FitPolicy


class _WarningHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(log_line(record), err=True)


def setup_logging(verbose: bool) -> None:
    """Our warnings on stderr, third-party logging off the screen — for this command only.

    Everything set here is undone when the command's click context closes, so a process that runs
    several commands (tests, a host application) keeps its own logging as it was.
    """
    ours, root = logging.getLogger("otio_dub"), logging.getLogger()
    handler, silence = _WarningHandler(), logging.NullHandler()  # a root handler keeps Python's last-resort printer away
    saved = (ours.level, ours.propagate)
    ours.addHandler(handler)
    ours.setLevel(logging.DEBUG if verbose else logging.WARNING)
    ours.propagate = False
    root.addHandler(silence)

    def restore() -> None:
        ours.removeHandler(handler)
        root.removeHandler(silence)
        ours.setLevel(saved[0])
        ours.propagate = saved[1]

    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(restore)


def ignore_file_size_signal() -> None:
    """Past a file-size limit (``ulimit -f``) let writes fail with EFBIG, which names the file in one line
    and keeps the previous dub whole, instead of SIGXFSZ killing the process mid-write. Python ignores
    the signal at start-up, but a host that embeds it (an NLE's scripting Python) may not."""
    xfsz = getattr(signal, "SIGXFSZ", None)
    if xfsz is not None and threading.current_thread() is threading.main_thread():
        signal.signal(xfsz, signal.SIG_IGN)


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
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


existing = click.Path(exists=True, dir_okay=False, path_type=Path)


class _OutFolder(click.Path):
    """An output folder: click would take ``-o ''`` as the current folder; that is refused instead."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("the output folder is empty: name a folder", param, ctx)
        return super().convert(value, param, ctx)


out_folder = _OutFolder(file_okay=False, path_type=Path)


def bundle(*decorators: Callable[..., Any]) -> Callable[..., Any]:
    """Apply a group of click options in the order they are listed (as --help shows them)."""

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


#: Options shared by every command that finds dialogue lines.
line_options = bundle(
    click.argument("timeline", type=existing),
    click.option("--script", "-s", type=existing,
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
    click.option("--drop-frame/--non-drop", "drop_frame", default=None,
                 help="Timecode of 29.97/59.94 timelines: drop-frame or non-drop (default: as the source says, else NDF)."),
    click.option("-v", "--verbose", is_flag=True, help="Print debug messages."),
)

fit_options = bundle(
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


def fit_policy(kw: dict[str, Any]) -> FitPolicy:
    """The fit options, taken out of ``kw``, as a FitPolicy (bad combinations are a usage error)."""
    try:
        return FitPolicy(kw.pop("max_speedup"), kw.pop("max_slowdown"), kw.pop("overflow"), kw.pop("max_borrow"),
                         kw.pop("align"), kw.pop("passes"), kw.pop("head_pad"), kw.pop("tail_pad"))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


voice_options = bundle(
    click.option("--engine", default=None, metavar="NAME|best",
                 help="Engine for characters without a cast entry (see `otio-dub engines`). Default: best (or "
                      "$OTIO_DUB_ENGINE): each character's language's best installed voice by measured WER, neural first."),
    click.option("--cast", "cast_file", type=existing, metavar="CAST.toml",
                 help="Voice per character (write a starter with `otio-dub cast`)."),
)


def voice_settings(kw: dict[str, Any]) -> dict[str, Any]:
    """DubOptions fields from the voice options, taken out of ``kw``."""
    engine = kw.pop("engine")
    return {"cast": kw.pop("cast_file"), **({"engine": engine} if engine else {})}


def _loudness_target(ctx: click.Context, param: click.Parameter, value: str) -> float | None:
    if value.strip().lower() in ("off", "none"):
        return None
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a loudness in LKFS (e.g. -27, -23) or 'off'") from None


stem_options = bundle(
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


def stem_settings(kw: dict[str, Any]) -> dict[str, Any]:
    """DubOptions fields from the stem options, taken out of ``kw``."""
    from ..delivery.stems import StemOptions

    mode = kw.pop("stem_mode")
    if kw.pop("no_stems"):
        mode = "none"
    try:
        return {"stems": StemOptions(mode, kw.pop("loudness"), kw.pop("true_peak"), kw.pop("mix_with"))}
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def stem_lines(section: dict) -> list[str]:
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


cache_options = bundle(
    click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
                 help="Render cache (default: the user cache dir, or $OTIO_DUB_CACHE); share one on a network drive."),
    click.option("--no-cache", is_flag=True, help="Synthesize and fit every line, store nothing."),
)


def cache_setting(kw: dict[str, Any]) -> Path | None:
    """The render-cache folder from --cache / --no-cache (default: the user cache dir)."""
    from ..store.cache import default_folder

    folder, off = kw.pop("cache_dir"), kw.pop("no_cache")
    return None if off else (folder or default_folder())


def table(rows: list[tuple[Any, ...]]) -> None:
    """Print rows as aligned columns (the last column is not padded)."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row[:-1], widths, strict=True)) + "  " + str(row[-1]))
