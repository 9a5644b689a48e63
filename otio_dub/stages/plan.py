"""Plan: read the timeline, script and cast; find every line; give each a window, a voice and a cache key.

Cheap and free of audio: everything after it (render, place, deliver) works from the DubPlan.
Every check that can refuse the run happens here, before any synthesis.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from ..casting.cast import CastEntry, load_cast
from ..casting.voices import Delivery, Performer, assign, delivery, resolve_languages
from ..core.errors import InputError, TimelineError
from ..core.timebase import TimeBase, parse_timecode
from ..delivery.stems import MixSource, check_mix_with
from ..dialogue.dialogue_list import LIST_SUFFIXES, read_dialogue_list
from ..dialogue.limits import check_timeline
from ..dialogue.lines import Line, duration_frames, find_lines, timebase_of
from ..dialogue.script import ScriptEvent, read_script
from ..engines import VoiceSpec, get_engine
from ..listen.guide import guide_pads
from ..speech import fit
from ..speech.speak import RenderJob, delivery_key, take_key, voice_identity
from ..timelines.formats import check_writable, format_of
from ..timelines.timeline_io import read_timeline
from .options import DubOptions

log = logging.getLogger("otio_dub")


@dataclass(frozen=True)
class LineJob:
    """One line as planned: its window, its performer and delivery, and its render job (with keys)."""

    line: Line
    window: fit.Window
    performer: Performer
    how: Delivery
    job: RenderJob


@dataclass
class DubPlan:
    """Everything the later stages need; no audio yet."""

    source: otio.schema.Timeline
    name: str
    base: Path | None  # folder relative media paths are read from (the timeline file's folder)
    fmt: str  # the format of the delivered timeline
    out: Path
    tb: TimeBase
    lines: list[Line]
    total_frames: int
    total_samples: int
    performers: dict[tuple[str, str], Performer]
    options: DubOptions
    jobs: list[LineJob] = field(default_factory=list)
    guides: dict[str, tuple[int, int]] = field(default_factory=dict)
    mix: MixSource | None = None
    inputs: list[Path] = field(default_factory=list)  # files the run reads: never to be written over
    originals: list = field(default_factory=list)  # original_states before matching and guides read them
    source_file: Path | None = None  # the editor's timeline file (None for a Timeline object): same-format writers patch it

    @property
    def policy(self) -> fit.FitPolicy:
        """The fit policy of the run."""
        return self.options.policy


def plan_dub(timeline: str | Path | otio.schema.Timeline, script: str | Path | None, out_dir: str | Path | None,
             options: DubOptions) -> DubPlan:
    """Read and check every input, find the lines and plan each one's render."""
    options = with_sidecar_cast(timeline, options)
    if isinstance(timeline, otio.schema.Timeline):
        source, name, base, fmt, inputs = timeline, timeline.name or "timeline", None, options.to or "otio", []
        check_timeline(source)  # where it enters, before any clock is made of it (read_timeline checks a file)
    else:
        source, name = read_timeline(timeline, options.rate, options.start, options.drop_frame), Path(timeline).stem
        base, fmt, inputs = Path(timeline).resolve().parent, options.to or format_of(timeline), [Path(timeline)]
    if out_dir is not None and str(out_dir).strip() == "":
        raise InputError("-o", "the output folder is empty: name a folder")
    out = Path(out_dir) if out_dir is not None else Path.cwd() / f"{name}_dub"
    mix = check_mix_with(options.stems.mix_with) if options.stems.mix_with else None
    tb, lines = collect_lines(source, script, options, where=str(timeline) if not isinstance(timeline, otio.schema.Timeline) else None,
                              checked=True)
    check_writable(fmt, tb)
    total_frames = duration_frames(source, tb)
    cast = cast_of(options)
    if options.cache is not None:  # a folder that is not a render cache is refused before anything is made
        from ..store.cache import RenderCache

        RenderCache(options.cache).close()
    inputs += [Path(p) for p in (script, options.stems.mix_with) if p is not None]
    if isinstance(options.cast, (str, Path)):
        inputs.append(Path(options.cast))
    originals = original_states(source, base)  # as they are before anything reads them (stages.unchanged)
    matches = match_actors(source, lines, cast, base, options)
    plan = DubPlan(source, name, base, fmt, out, tb, lines, total_frames, tb.samples_between(0, total_frames),
                   assign(lines, cast, options.voice_engine, matches, options.best), options, mix=mix, inputs=inputs, originals=originals,
                   source_file=None if isinstance(timeline, otio.schema.Timeline) else Path(timeline))
    plan.guides = guide_pads(source, tb, lines, base) if plan.policy.align == "guide" else {}
    plan.jobs = line_jobs(plan)
    return plan


def with_sidecar_cast(timeline: str | Path | otio.schema.Timeline, options: DubOptions) -> DubOptions:
    """``options`` with the cast beside the timeline (``<stem>.cast.toml``) when no cast was given."""
    if options.cast is not None or isinstance(timeline, otio.schema.Timeline):
        return options
    sidecar = Path(timeline).with_name(f"{Path(timeline).stem}.cast.toml")
    if not sidecar.is_file():
        return options
    log.info("cast: %s (beside the timeline; --cast overrides it)", sidecar)
    return replace(options, cast=sidecar)


def original_states(source: otio.schema.Timeline, base: Path | None) -> list:
    """The state (``hashing.file_state``) of every file the source timeline names, sorted: what matching,
    guides and the review read."""
    from ..core.hashing import file_state
    from ..timelines.dub_timeline import media_path

    states = set()
    for clip in source.find_clips():
        ref = clip.media_reference
        url = getattr(ref, "target_url", None) if isinstance(ref, otio.schema.ExternalReference) else None
        if url:
            try:
                states.add(file_state(media_path(url, base or Path.cwd())))
            except ValueError:
                states.add((url, -1, 0, 0, 0))
    return sorted(states)


def match_actors(source: otio.schema.Timeline, lines: list[Line], cast: Mapping[str, CastEntry], base: Path | None,
                 options: DubOptions) -> dict | None:
    """Voices matched to the original actors for the characters the cast leaves open, where media can be read.

    With the default engine every installed engine is a candidate (neural voices preferred where
    they speak the language); an engine named with ``--engine`` is the only candidate.
    """
    open_lines = [ln for ln in lines if not (ln.character in cast and (cast[ln.character].voice or cast[ln.character].engine))]
    if not options.match or not open_lines:
        return None
    if not _heard_anywhere(source, open_lines, base):
        return None  # no evidence anywhere: the deterministic automatic voices, without loading anything
    from ..casting.matching import match_voices

    engines = None if options.best else [options.voice_engine]  # an engine named (or the house's) is the only one
    found = match_voices(source, open_lines, base, engines)
    for character, m in sorted(found.items()):
        log.info("%s: %s", character, m.comment())
    return found


def _heard_anywhere(source: otio.schema.Timeline, lines: list[Line], base: Path | None) -> bool:
    """Whether any original audio clip with a readable local file lies under one of ``lines``."""
    from ..listen.guide import readable_audio_clips

    clips = readable_audio_clips(source, timebase_of(source), base)
    return any(rin < line.record_out and line.record_in < rout for _, rin, rout in clips for line in lines)


def line_jobs(plan: DubPlan) -> list[LineJob]:
    """Each line's window (its clip, pads, the silence after it) and render job with its cache keys."""
    tb, policy = plan.tb, plan.policy
    tolerance = tb.samples_between(0, 1)
    free_until_frames = free_frames(plan.lines, plan.total_frames)
    voices: dict[VoiceSpec, dict] = {}  # each voice's identity once per plan (a voice file is looked at once)
    jobs = []
    for index, line in enumerate(plan.lines):
        free_until = tb.sample_at(free_until_frames[index])
        head, tail = plan.guides.get(line.id, (policy.head_pad_ms * 48, policy.tail_pad_ms * 48))
        window = fit.Window(samples=tb.samples_between(line.record_in, line.record_out), head_pad=head, tail_pad=tail,
                            free_after=max(0, free_until - tb.sample_at(line.record_out)))
        performer = plan.performers[(line.character, line.lang)]
        engine = get_engine(performer.engine)
        how = delivery(performer, line, engine.info.native_prosody)
        args = (engine, line.text, how.spec, how.speed, how.semitones, how.gain_db)
        if how.spec not in voices:
            voices[how.spec] = voice_identity(how.spec)
        said = delivery_key(*args, policy, tolerance, voice=voices[how.spec])
        key = take_key(*args, window, policy, tolerance, delivery=said)
        job = RenderJob(index, line, performer.engine, how.spec, how.speed, how.semitones, how.gain_db, window, policy,
                        tolerance, key, said, str(plan.options.cache or ""))
        jobs.append(LineJob(line, window, performer, how, job))
    return jobs


def clip_extent(tb: TimeBase, line: Line, media_samples: int) -> tuple[int, int]:
    """The dub clip's end frame and length in samples: the line's clip, longer where a take borrowed."""
    end_frame = max(line.record_out, tb.frame_covering(tb.sample_at(line.record_in) + media_samples))
    return end_frame, tb.samples_between(line.record_in, end_frame)


def collect_lines(timeline: otio.schema.Timeline, script: str | Path | None, options: DubOptions,
                  where: str | None = None, checked: bool = False) -> tuple[TimeBase, list[Line]]:
    """The timeline's clock and every dialogue line in it (metadata clips and script events).

    ``where`` names the timeline file in errors (the sequence name when the timeline came from code);
    ``checked``: ``timeline`` has been through ``check_timeline`` already.
    """
    try:
        return _collect_lines(timeline, script, options, where, checked)
    except TimelineError as exc:
        if where is None:
            raise
        raise InputError(where, str(exc)) from None


def _collect_lines(timeline: otio.schema.Timeline, script: str | Path | None, options: DubOptions,
                   where: str | None, checked: bool) -> tuple[TimeBase, list[Line]]:
    tb = timebase_of(timeline, options.drop_frame)
    is_list = script is not None and Path(script).suffix.lower() in LIST_SUFFIXES
    offset = -tb.start_frame if is_list else 0  # a dialogue list is absolute timecode: its zero is 00:00:00:00
    if options.script_offset is not None:
        try:
            offset = parse_timecode(options.script_offset, tb.rate) - tb.start_frame
        except ValueError as exc:
            raise InputError("--script-offset", str(exc)) from None
    events: list[ScriptEvent] | None = None
    if script is not None:  # a dialogue list (is_list) or a subtitle script
        events = list_events(script, tb) if is_list else read_script(script)
    lines = find_lines(timeline, events, script_name=str(script), script_offset=offset, lang=None,
                       dialogue_tracks=options.dialogue_tracks, checked=checked)
    if not lines:
        hint = "" if script else " and no --script was given"
        raise InputError(where or timeline.name or "timeline",
                         f"no dialogue lines found (no clip carries otio_dub metadata{hint})")
    lines = resolve_languages(lines, cast_of(options), options.lang)
    return tb, translated(lines, tb, options) if options.translate else lines


def translated(lines: list[Line], tb: TimeBase, options: DubOptions) -> list[Line]:
    """The lines translated into ``options.translate``, each fitted to its window (``otio_dub.translation``)."""
    from ..translation.adapt import NEEDS_ADAPTATION, translate_lines
    from ..translation.glossary import read_glossary

    result = translate_lines(lines, tb, str(options.translate), translator=options.translator, cast=cast_of(options),
                             glossary=read_glossary(options.glossary) if options.glossary else (),
                             engine=options.engine_choice, policy=options.policy, cache=options.cache)
    adapt = [row.line.origin or row.line.id for row in result.rows if any(NEEDS_ADAPTATION in f for f in row.flags)]
    if adapt:
        log.warning("%d translated line(s) need adaptation to fit their windows: %s (see otio-dub translate)",
                    len(adapt), ", ".join(adapt[:5]) + (" ..." if len(adapt) > 5 else ""))
    return result.lines


def list_events(path: str | Path, tb: TimeBase) -> list[ScriptEvent]:
    """A dialogue list (CSV/TSV, absolute timecode at the timeline's rate) as script events.

    Frames go to milliseconds and back within half a millisecond, far inside a frame, so every row
    lands on the frame its timecode names.
    """
    def ms(frame: int) -> int:
        return round(Fraction(frame) / tb.rate * 1000)

    return [ScriptEvent(e.row, ms(e.tc_in), ms(e.tc_out), e.text, e.character, e.emotion, None, e.lang, e.gender)
            for e in read_dialogue_list(path, tb.rate)]


def cast_of(options: DubOptions) -> Mapping[str, CastEntry]:
    """The run's cast: none, a mapping given in code, or a cast file to read."""
    if options.cast is None:
        return {}
    if isinstance(options.cast, (str, Path)):
        return load_cast(options.cast)
    return options.cast


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
