"""The one orchestrator the CLI, the Python API and the hooks call: read, find, speak, fit, write.

Media are written into a staging folder inside the output folder and moved into place only when
every line has been fitted, so a failed or interrupted run never leaves a half-finished dub.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from . import __version__, dsp, fit
from .apply import DubClip, add_dub_tracks, track_name
from .cache import RenderCache, make_key
from .cast import CastEntry, load_cast
from .dialogue_list import LIST_SUFFIXES, read_dialogue_list
from .dub_timeline import line_description
from .engines import DEFAULT_ENGINE, Engine, VoiceSpec, get_engine
from .errors import EngineError, FitError, InputError, OtioDubError, OutputError
from .formats import check_writable, format_of, write_timeline
from .guide import guide_pads
from .lines import Line, duration_frames, find_lines, timebase_of
from .render import Placement, finish_line, write_staging, write_text_atomic
from .script import SCRIPT_SUFFIXES, ScriptEvent, read_script
from .stems import StemOptions, check_mix_with, dub_stems, plan_loudness
from .timebase import SAMPLE_RATE, TimeBase, parse_timecode
from .voices import assign, delivery, resolve_languages

log = logging.getLogger("otio_dub")

Progress = Callable[[int, int, Line], None]


@dataclass(frozen=True)
class DubOptions:
    """Everything a dub run can be told; the CLI's options map onto these fields."""

    engine: str = DEFAULT_ENGINE
    lang: str = "en"
    cast: Mapping[str, CastEntry] | str | Path | None = None
    script_offset: str | None = None
    dialogue_tracks: tuple[str, ...] = ()
    policy: fit.FitPolicy = field(default_factory=fit.FitPolicy)
    to: str | None = None  # output format (formats.FORMATS); default: the input's
    rate: float | None = None  # frame rate for inputs without one (EDL, subtitles, dialogue lists)
    start: str | None = None  # start timecode for subtitle / dialogue-list inputs
    stems: StemOptions = field(default_factory=StemOptions)  # stems, loudness, true peak, full mix
    cache: str | Path | None = None  # render cache folder (cache.default_folder() is the CLI's default)


@dataclass
class DubResult:
    """What a dub produced: the dub timeline, where its files are, and the per-line report."""

    timeline: otio.schema.Timeline
    out_dir: Path
    timeline_path: Path
    exports: list[Path]
    stems: dict[str, Path]
    report_path: Path
    lines: list[dict]
    summary: dict[str, int]
    voices: dict[str, str]
    takes: dict[str, int] = field(default_factory=dict)  # synthesized / cache / reused counts
    stem_report: dict = field(default_factory=dict)  # report.json's "stems": loudness and true peak per stem


def read_timeline(path: str | Path, rate: float | None = None, start: str | None = None) -> otio.schema.Timeline:
    """Read a timeline through the OTIO adapters; any failure becomes one InputError line.

    ``rate`` / ``start`` reach the adapters of formats that carry no clock of their own: EDLs
    (rate) and subtitle scripts or dialogue lists read as timelines (rate and start timecode).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "timeline file not found")
    args: dict[str, object] = {}
    suffix = path.suffix.lower()
    if rate is not None and suffix in (".edl", *SCRIPT_SUFFIXES, *LIST_SUFFIXES):
        args["rate"] = rate
    if start is not None and suffix in (*SCRIPT_SUFFIXES, *LIST_SUFFIXES):
        args["start_timecode"] = start
    # our own reads skip the tagging hook: the original tracks reach the outputs exactly as exported
    args["hook_function_argument_map"] = {"otio_dub": {"tag_dialogue": False}}
    try:
        result = otio.adapters.read_from_file(str(path), **args)
    except Exception as exc:  # adapters raise anything from XML errors to KeyError: name the file
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(str(path), f"cannot read timeline ({type(exc).__name__}: {detail})") from None
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline))
        if not timelines:
            raise InputError(str(path), "holds no timeline")
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise InputError(str(path), f"holds a {type(result).__name__}, not a timeline")
    return result


def collect_lines(timeline: otio.schema.Timeline, script: str | Path | None, options: DubOptions) -> tuple[TimeBase, list[Line]]:
    """The timeline's clock and every dialogue line in it (metadata clips and script events)."""
    tb = timebase_of(timeline)
    is_list = script is not None and Path(script).suffix.lower() in LIST_SUFFIXES
    offset = -tb.start_frame if is_list else 0  # a dialogue list is absolute timecode: its zero is 00:00:00:00
    if options.script_offset is not None:
        try:
            offset = parse_timecode(options.script_offset, tb.rate) - tb.start_frame
        except ValueError as exc:
            raise InputError("--script-offset", str(exc)) from None
    if is_list:
        events = list_events(script, tb)
    else:
        events = read_script(script) if script is not None else None
    lines = find_lines(timeline, events, script_name=str(script), script_offset=offset, lang=None,
                       dialogue_tracks=options.dialogue_tracks)
    if not lines:
        hint = "" if script else " and no --script was given"
        raise InputError(timeline.name or "timeline", f"no dialogue lines found (no clip carries otio_dub metadata{hint})")
    return tb, resolve_languages(lines, cast_of(options), options.lang)


def list_events(path: str | Path, tb: TimeBase) -> list[ScriptEvent]:
    """A dialogue list (CSV/TSV, absolute timecode at the timeline's rate) as script events.

    Frames go to milliseconds and back within half a millisecond, far inside a frame, so every row
    lands on the frame its timecode names.
    """
    def ms(frame: int) -> int:
        return round(Fraction(frame) / tb.rate * 1000)

    return [ScriptEvent(e.row, ms(e.tc_in), ms(e.tc_out), e.text, e.character, e.emotion, None, e.lang)
            for e in read_dialogue_list(path, tb.rate)]


def cast_of(options: DubOptions) -> Mapping[str, CastEntry]:
    """The run's cast: none, a mapping given in code, or a cast file to read."""
    if options.cast is None:
        return {}
    if isinstance(options.cast, (str, Path)):
        return load_cast(options.cast)
    return options.cast


@dataclass
class Fitted:
    """One line's fitted media (exactly ``media_samples`` long) and its report row."""

    media: np.ndarray
    plan: fit.FitPlan
    report: dict


def fit_line(engine: Engine, line: Line, voice: VoiceSpec, window: fit.Window, policy: fit.FitPolicy, tolerance: int,
             *, speed: float = 1.0, semitones: float = 0.0, gain_db: float = 0.0) -> Fitted:
    """Speak a line, re-speak at corrected rates (secant), stretch the remainder, place it.

    A take is accepted without stretching when it is at most half of ``tolerance`` (one frame)
    short of its target, so the placed speech still ends within a frame after fades and edges.
    ``speed`` is the voice's own pace (cast rate x emotion): "natural" means natural at that pace.
    ``semitones`` shifts pitch (formant-preserving) in the same Rubber Band pass as the residual.
    """
    base_speed = speed
    lo, hi = engine.info.speed_range or (1.0, 1.0)
    tolerance //= 2
    history: list[tuple[float, int]] = []
    takes: dict[float, np.ndarray] = {}

    def speak(speed: float) -> np.ndarray:
        take = engine.synthesize(line.text, voice, speed * base_speed)
        speech = dsp.trim(dsp.resample(take.audio, take.sample_rate))
        history.append((speed, speech.size))
        takes[speed] = speech
        return speech

    natural = speak(1.0).size
    if natural == 0:
        raise EngineError(f"{line.origin}: engine {engine.info.name!r} produced no speech for {line.text[:40]!r}")
    plan = fit.plan(natural, window, policy)
    target = plan.speech_samples

    def error(n: int) -> int:  # the take needing the least residual stretch wins
        return abs(n - target)

    while engine.info.speed_range and len(history) < policy.passes:
        _, best_n = min(history, key=lambda h: error(h[1]))
        if best_n <= target and target - best_n <= tolerance:
            break
        speed = fit.next_speed(history, target, lo, hi)
        if any(abs(speed - s) < 1e-4 for s, _ in history):
            break
        speak(speed)
    rate_speed, measured = min(history, key=lambda h: error(h[1]))
    speech = takes[rate_speed]
    stretch = 1.0
    speed = natural / measured
    out_of_bounds = speed > policy.max_speedup + 1e-3 or speed < policy.max_slowdown - 1e-3
    if measured > target or target - measured > tolerance or out_of_bounds:
        stretch = measured / target
    if stretch != 1.0 or semitones:
        length = target if stretch != 1.0 else measured
        speech = dsp.time_stretch(speech, stretch, length=length, semitones=semitones)
    fitted_length = target if stretch != 1.0 else measured
    media = np.zeros(plan.media_samples, dtype=np.float32)
    speech = dsp.fade(speech) * np.float32(10 ** (gain_db / 20))
    media[plan.offset: plan.offset + speech.size] = speech[: plan.media_samples - plan.offset]
    first, end = dsp.speech_bounds(media)
    window_end = window.samples - window.tail_pad
    report = {
        "natural_s": round(natural / SAMPLE_RATE, 4),
        "window_s": round(window.speech / SAMPLE_RATE, 4),
        "speech_s": round((end - first) / SAMPLE_RATE, 4),
        "needed_speed": round(plan.needed_speed, 4),
        "rate_factor": round(rate_speed, 4),
        "stretch_factor": round(stretch, 4),
        "total_speed": round(natural / fitted_length, 4),
        "passes": len(history),
        "onset_error_ms": round((first - window.head_pad) / 48, 1),
        "offset_error_ms": round((end - window_end) / 48, 1),
        "borrowed_ms": round(plan.borrowed / 48, 1),
    }
    return Fitted(media, plan, report)


def free_frames(lines: list[Line], total_frames: int) -> list[int]:
    """For each line, where the silence after it ends: the first frame another line occupies after
    its record-out (its own record-out when another line already covers that point).

    Only lines ending later can stop it, so one pass over the lines sorted by record-out, keeping
    the earliest record-in of those ending later, answers every line (n log n, not n squared).
    """
    order = sorted(range(len(lines)), key=lambda i: lines[i].record_out, reverse=True)
    result = [0] * len(lines)
    earliest = total_frames  # min record-in of the lines ending strictly later than the current one
    pending = total_frames  # min record-in among lines ending at the current record-out (not yet "later")
    current_out = None
    for i in order:
        line = lines[i]
        if line.record_out != current_out:
            earliest, pending, current_out = min(earliest, pending), total_frames, line.record_out
        result[i] = max(line.record_out, min(total_frames, earliest))
        pending = min(pending, line.record_in)
    return result


def free_frame(lines: list[Line], index: int, total_frames: int) -> int:
    """Where the silence after line ``index`` ends (see :func:`free_frames`)."""
    return free_frames(lines, total_frames)[index]


def fit_reused(fitted: Fitted | None, window: fit.Window, delivery: str) -> Fitted | None:
    """A take from the old dub placed in a moved window, or None when it no longer fits there.

    A moved window at 29.97 can be a sample longer or shorter (1601.6 samples a frame): the take's
    trailing silence absorbs that. A take that borrowed more silence than the new place has is
    refitted instead.
    """
    if fitted is None or fitted.report.get("delivery") != delivery or fitted.plan.status == "overrun":
        return None  # another voice, text or policy; or an overrun that a new place might fit
    plan = fitted.plan
    if plan.media_samples - plan.borrowed != window.samples:
        if abs(plan.media_samples - plan.borrowed - window.samples) > 2 or plan.status not in ("fit", "padded"):
            return None
        size = window.samples
        media = np.pad(fitted.media, (0, max(0, size - fitted.media.size)))[:size]
        plan = replace(plan, media_samples=size)
        return Fitted(media, plan, fitted.report)
    if plan.borrowed > window.free_after:
        return None
    return fitted


def take_key(engine: Engine, text: str, spec: VoiceSpec, speed: float, semitones: float, gain_db: float,
             window: fit.Window, policy: fit.FitPolicy, tolerance: int) -> str:
    """The render-cache key of a fitted take: everything ``fit_line`` reads, and nothing else.

    The silence after a line only matters up to what may be borrowed (none unless borrowing), so a
    neighbour moving elsewhere in a long pause does not make a take miss. A voice given as a file
    is keyed by its content, not its path text.
    """
    borrowable = min(window.free_after, policy.max_borrow_ms * 48) if policy.overflow == "borrow" else 0
    return make_key(delivery=delivery_key(engine, text, spec, speed, semitones, gain_db, policy, tolerance),
                    window=asdict(replace(window, free_after=borrowable)))


def delivery_key(engine: Engine, text: str, spec: VoiceSpec, speed: float, semitones: float, gain_db: float,
                 policy: fit.FitPolicy, tolerance: int) -> str:
    """Everything a take depends on but its window: a take may move only when this is unchanged."""
    voice = asdict(spec)
    if spec.voice and Path(spec.voice).expanduser().is_file():
        voice["voice"] = _file_fingerprint(Path(spec.voice).expanduser())
    return make_key(engine=engine.info.name, engine_version=engine.info.version, voice=voice, speed=float(speed),
                    semitones=float(semitones), gain_db=float(gain_db), text=text, policy=asdict(policy),
                    tolerance=tolerance)


def _file_fingerprint(path: Path) -> str:
    """SHA-256 of a voice model and its config beside it (same file anywhere = same key)."""
    import hashlib

    digest = hashlib.sha256()
    for part in (path, path.with_name(path.name + ".json")):
        if part.is_file():
            with part.open("rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def dub(
    timeline: str | Path | otio.schema.Timeline,
    script: str | Path | None = None,
    out_dir: str | Path | None = None,
    options: DubOptions | None = None,
    progress: Progress | None = None,
    reuse: Mapping[str, Fitted] | None = None,
) -> DubResult:
    """Dub ``timeline`` into ``out_dir``: the dub timeline, per-line media, stems and report.json.

    ``reuse`` (used by conform) gives fitted takes to place as they are, by line id.
    """
    options = options or DubOptions()
    reuse = reuse or {}
    if isinstance(timeline, otio.schema.Timeline):
        source, name, base, fmt = timeline, timeline.name or "timeline", None, options.to or "otio"
    else:
        source, name = read_timeline(timeline, options.rate, options.start), Path(timeline).stem
        base, fmt = Path(timeline).resolve().parent, options.to or format_of(timeline)
    out = Path(out_dir) if out_dir is not None else Path.cwd() / f"{name}_dub"
    mix = check_mix_with(options.stems.mix_with) if options.stems.mix_with else None  # before any synthesis
    tb, lines = collect_lines(source, script, options)
    check_writable(fmt, tb)  # before any synthesis: a format that cannot take this timeline writes nothing
    total_frames = duration_frames(source, tb)
    total_samples = tb.samples_between(0, total_frames)
    performers = assign(lines, cast_of(options), options.engine)
    policy = options.policy
    tolerance = tb.samples_between(0, 1)
    guides = guide_pads(source, tb, lines, base) if policy.align == "guide" else {}
    cache = RenderCache(options.cache) if options.cache else None
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(".otio-dub-staging-*"):  # left by a killed run (an hour's grace for a live one)
            if stale.is_dir() and time.time() - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=".otio-dub-staging-", dir=out))
    except OSError as exc:
        raise OutputError(f"{out}: cannot create output folder ({exc.strerror})") from None
    try:
        clips, rows, placements = [], [], []
        takes: dict[str, int] = {}
        free_until_frames = free_frames(lines, total_frames)
        for index, line in enumerate(lines):
            free_until = tb.sample_at(free_until_frames[index])
            head, tail = guides.get(line.id, (policy.head_pad_ms * 48, policy.tail_pad_ms * 48))
            window = fit.Window(
                samples=tb.samples_between(line.record_in, line.record_out), head_pad=head, tail_pad=tail,
                free_after=max(0, free_until - tb.sample_at(line.record_out)),
            )
            performer = performers[(line.character, line.lang)]
            engine = get_engine(performer.engine)
            how = delivery(performer, line, engine.info.native_prosody)
            key = take_key(engine, line.text, how.spec, how.speed, how.semitones, how.gain_db, window, policy, tolerance)
            voice_key = delivery_key(engine, line.text, how.spec, how.speed, how.semitones, how.gain_db, policy, tolerance)
            fitted, take = fit_reused(reuse.get(line.id), window, voice_key), "reused"
            if fitted is not None and fitted.plan.status in ("fit", "padded") and cache is not None \
                    and cache.get(key) is None:  # the silence after a fit/padded take never changes it
                cache.put(key, fitted.media, {"plan": asdict(fitted.plan), "report": fitted.report})  # next conform hits
            if fitted is None and cache is not None and (hit := cache.get(key)) is not None:
                fitted, take = Fitted(hit[0], fit.FitPlan(**hit[1]["plan"]), hit[1]["report"]), "cache"
            if fitted is None:
                fitted, take = fit_line(engine, line, how.spec, window, policy, tolerance, speed=how.speed,
                                        semitones=how.semitones, gain_db=how.gain_db), "synthesized"
                fitted.report["delivery"] = voice_key  # what conform checks before moving this take
                if cache is not None:
                    cache.put(key, fitted.media, {"plan": asdict(fitted.plan), "report": fitted.report})
            end_frame = max(line.record_out, tb.frame_covering(tb.sample_at(line.record_in) + fitted.plan.media_samples))
            length = tb.samples_between(line.record_in, end_frame)
            media = np.pad(fitted.media, (0, length - fitted.media.size))
            note = ""
            if fitted.plan.status == "overrun":
                note = fit.overrun_hint(fitted.plan.needed_speed, policy.max_speedup, line.text)
            elif fitted.plan.status == "borrowed":
                note = f"borrows {fitted.plan.borrowed / 48:.0f} ms after the line"
            write_staging(staging / f"{line.id}.f32.wav", media)  # float until its loudness gain is known
            row = {
                "id": line.id, "character": line.character, "lang": line.lang, "text": line.text,
                "source": line.source, "origin": line.origin,
                "record_in": tb.tc(line.record_in), "record_out": tb.tc(line.record_out),
                "clip_out": tb.tc(end_frame), "target_s": round(window.samples / SAMPLE_RATE, 4),
                **fitted.report, "status": fitted.plan.status, "note": note,
                "media": f"media/{line.id}.wav", "engine": performer.engine, "voice": performer.spec.voice or performer.spec.lang,
                "emotion": how.emotion,
                "guide": line.id in guides if policy.align == "guide" else None, "key": key,
            }
            takes[take] = takes.get(take, 0) + 1  # not in the report: a warm re-run writes identical files
            rows.append(row)
            clips.append(DubClip(line, end_frame, f"media/{line.id}.wav", fitted.plan.status, note, fitted.report,
                                 key=key))
            placements.append((line, Placement(out / "media" / f"{line.id}.wav", tb.sample_at(line.record_in), length)))
            if progress:
                progress(index + 1, len(lines), line)
        overruns = [r for r in rows if r["status"] == "overrun"]
        if overruns and policy.overflow == "error":
            listed = "; ".join(f"{r['id']} at {r['record_in']} {r['note']}" for r in overruns)
            raise FitError(f"{len(overruns)} line(s) do not fit: {listed}", [r["id"] for r in overruns])
        plan = plan_loudness([(line.lang, line.character, replace(p, path=staging / f"{line.id}.f32.wav"))
                              for line, p in placements], total_samples, options.stems) \
            if options.stems.loudness is not None else None
        for line in lines:  # one gain per character, baked into its line media so the NLE hears the stems' level
            finish_line(staging / f"{line.id}.f32.wav", staging / f"{line.id}.wav",
                        plan.linear((line.lang, line.character)) if plan else 1.0,
                        tb.start_sample + tb.sample_at(line.record_in),
                        line_description(line.character, line.lang, line.text))
        media_dir = out / "media"
        media_dir.mkdir(exist_ok=True)
        for line in lines:
            os.replace(staging / f"{line.id}.wav", media_dir / f"{line.id}.wav")
    except OSError as exc:
        raise OutputError(f"{out}: cannot write ({exc.strerror})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if cache is not None:
            cache.close()

    for dc in clips:
        if dc.end_frame > total_frames:
            log.warning("%s runs to %s, past the timeline end %s: the stems cut it there",
                        dc.line.id, tb.tc(dc.end_frame), tb.tc(total_frames))
    stem_result = dub_stems(out, [(line.lang, line.character, p) for line, p in placements], total_samples,
                            tb.start_sample, name, options.stems, plan, mix)
    stems = stem_result.paths()
    if plan:
        clips = [replace(dc, gain_db=plan.gains_db[(dc.line.lang, dc.line.character)]) for dc in clips]
        for row in rows:
            row["gain_db"] = round(plan.gains_db[(row["lang"], row["character"])], 2)
    dubbed = add_dub_tracks(source, clips, tb)
    timeline_path = write_text_atomic(out / f"{name}.dub.otio", otio.adapters.write_to_string(dubbed, "otio_json"))
    exports = write_timeline(dubbed, out, name, fmt, tb) if fmt != "otio" else []
    summary = summarize(rows)
    report = {
        "otio_dub": __version__, "timeline": name, "rate": str(tb.rate), "start": tb.tc(0),
        "duration_frames": total_frames, "duration_samples": total_samples, "sample_rate": SAMPLE_RATE,
        "engines": {name: get_engine(name).info.version for name in sorted({p.engine for p in performers.values()})},
        "policy": asdict(policy), "summary": summary,
        "tracks": sorted({track_name(line.lang, line.character) for line in lines}),
        "stems": stem_result.report(out),
        "lines": rows,
    }
    report_path = write_text_atomic(out / "report.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    voice_map = {f"{c} ({lang})": p.label() for (c, lang), p in performers.items()}
    return DubResult(dubbed, out, timeline_path, exports, stems, report_path, rows, summary, voice_map,
                     stem_report=report["stems"], takes=takes)


def summarize(rows: list[dict]) -> dict[str, int]:
    """Line counts by status (fit lines end within one frame of their window)."""
    summary = {"lines": len(rows), "fit": 0, "padded": 0, "borrowed": 0, "overrun": 0}
    for row in rows:
        summary[row["status"]] = summary.get(row["status"], 0) + 1
    return summary


__all__ = ["DubOptions", "DubResult", "OtioDubError", "collect_lines", "dub", "read_timeline"]
