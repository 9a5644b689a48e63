"""The studio's plan: a dub folder read back into a DubPlan, and one line's render job as edited.

``otio-dub studio`` is given the dub folder alone, so everything the render and the keep need is
read from the folder's own files: the lines, windows and takes from ``report.json`` (each row's
``performer`` is the character's voice as cast), the editor's tracks and the dub clips' source
identities from the ``.dub.otio``, the stems' mode and loudness from the stems report. Unchanged
lines keep the render keys the dub recorded, so a keep places their takes exactly as they were.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import opentimelineio as otio

from ..casting.voices import Performer, delivery
from ..core.errors import InputError
from ..core.timebase import parse_timecode
from ..delivery.stems import StemOptions
from ..dialogue.lines import METADATA_KEY, Line, is_dub
from ..dialogue.prosody import EMOTIONS
from ..engines import VoiceSpec, get_engine
from ..review.data import clock, dub_timeline_path, read_dub_timeline, read_report
from ..speech import fit
from ..speech.speak import RenderJob, delivery_key, take_key
from ..timelines.formats import FORMATS
from .options import DubOptions
from .plan import DubPlan, LineJob, free_frames, line_jobs

MAX_TEXT = 1000  # characters of a line's text the studio accepts (a line, not a document)
PACE = (0.5, 2.0)  # the pace multiplier's bounds (those of a review note's rate)
_VOICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+:-]{0,63}$")  # an engine's voice id: never a path


@dataclass(frozen=True)
class Edit:
    """What the director changed on one line; None leaves a field as the dub has it."""

    text: str | None = None
    engine: str | None = None
    voice: str | None = None
    emotion: str | None = None  # "" for none
    pace: float = 1.0  # x the line's pace (1.1 = 10% faster)
    record_in: int | None = None  # the window, frames from the timeline start, within the line's own
    record_out: int | None = None

    def as_dict(self) -> dict:
        """The edit as the page and the notes see it (fields left as they were are omitted)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None and not (k == "pace" and v == 1.0)}


def parse_edit(raw: dict) -> Edit:
    """A request's edit, checked field by field; any problem is one InputError naming the field."""
    def text(name: str, limit: int) -> str | None:
        value = raw.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > limit or "\x00" in value:
            raise InputError(name, f"must be text of at most {limit} characters")
        return value.strip()

    said = text("text", MAX_TEXT)
    if said is not None and not said:
        raise InputError("text", "is empty: a line needs words to speak")
    voice, engine, emotion = text("voice", 64), text("engine", 32), text("emotion", 32)
    if voice and not _VOICE_ID.match(voice):
        raise InputError("voice", f"{voice!r} is not a voice id (letters, digits, _ . + : -; no paths)")
    if emotion and emotion not in EMOTIONS:
        raise InputError("emotion", f"{emotion!r} is not one of {', '.join(sorted(EMOTIONS))}")
    pace = raw.get("pace", 1.0)
    if isinstance(pace, bool) or not isinstance(pace, (int, float)) or not math.isfinite(pace) \
            or not PACE[0] <= pace <= PACE[1]:
        raise InputError("pace", f"must be a number from {PACE[0]} to {PACE[1]}")
    frames = [raw.get(k) for k in ("in", "out")]
    if any(f is not None and (isinstance(f, bool) or not isinstance(f, int)) for f in frames):
        raise InputError("in/out", "must be whole frames")
    return Edit(said, engine or None, voice or None, emotion, round(float(pace), 4), frames[0], frames[1])


class StudioDub:
    """A dub folder as the studio works on it: its plan (lines, voices, windows, keys) and its rows."""

    def __init__(self, out: Path, cache: Path | None, mix_with: Path | None = None) -> None:
        self.out = Path(out).absolute()
        self.report = read_report(self.out)
        self.timeline_path = dub_timeline_path(self.out, self.report)
        self.timeline = read_dub_timeline(self.timeline_path)
        self.name = self.timeline_path.name[: -len(".dub.otio")]
        self.tb = clock(self.timeline, self.report)
        self.rows = [r for r in self.report["lines"] if isinstance(r, dict)]
        self.index = {str(r.get("id")): i for i, r in enumerate(self.rows)}
        self.plan = self._plan(cache, mix_with)
        self.free_until = free_frames(self.plan.lines, self.plan.total_frames)
        keys = [lj.job.key for lj in self.plan.jobs]
        #: lines whose voice the folder does not record exactly (an older dub): their edits use the engine's voice
        self.approximate = [r["id"] for r, k in zip(self.rows, keys, strict=True) if k != r.get("key")]
        self.plan.jobs = [self._recorded(lj, row) for lj, row in zip(self.plan.jobs, self.rows, strict=True)]

    def _plan(self, cache: Path | None, mix_with: Path | None) -> DubPlan:
        report, tb = self.report, self.tb
        try:
            policy = fit.FitPolicy(**(report.get("policy") or {}))
        except (TypeError, ValueError) as exc:
            raise InputError(str(self.out / "report.json"), f"the dub's fit policy cannot be read ({exc})") from None
        identities = _identities(self.timeline)
        lines = [self._line(row, i, identities) for i, row in enumerate(self.rows)]
        performers: dict[tuple[str, str], Performer] = {}
        for row, line in zip(self.rows, lines, strict=True):
            performers.setdefault((line.character, line.lang), performer_of(row))
        source = copy.deepcopy(self.timeline)
        for track in [t for t in source.tracks if is_dub(t)]:
            source.tracks.remove(track)
        fmt = next((f for f in ("xml", "fcpxml", "fcpxmld", "aaf", "edl", "otioz", "otiod")
                    if (self.out / f"{self.name}.dub{FORMATS[f][1]}").exists()), "otio")
        options = DubOptions(policy=policy, cache=cache, stems=stem_options(report, mix_with), review=False, match=False,
                             to=fmt, subtitles=_subtitle_formats(self.out))
        total = int(report.get("duration_frames") or 0)
        plan = DubPlan(source, self.name, None, fmt, self.out, tb, lines, total, tb.samples_between(0, total), performers,
                       options, source_file=self.out / f"{self.name}.dub{FORMATS[fmt][1]}" if fmt != "otio" else None)
        if policy.align == "guide":  # the guides' pads cannot be heard again here: the policy's stand in
            plan.guides = {r["id"]: (policy.head_pad_ms * 48, policy.tail_pad_ms * 48) for r in self.rows if r.get("guide")}
        plan.jobs = line_jobs(plan)
        return plan

    def _line(self, row: dict, index: int, identities: dict[str, dict]) -> Line:
        where = f"{self.out / 'report.json'}: line {index + 1}"
        try:
            rin, rout = (parse_timecode(str(row[k]), self.tb.rate) - self.tb.start_frame for k in ("record_in", "record_out"))
            lid = str(row["id"])
        except (KeyError, ValueError) as exc:
            raise InputError(where, f"cannot be read back ({exc})") from None
        extra = {"identity": identities[lid]} if lid in identities else {}
        return Line(lid, rin, rout, str(row.get("character") or ""), str(row.get("lang") or "en"), str(row.get("text") or ""),
                    row.get("emotion") or None, str(row.get("source") or "metadata"), str(row.get("origin") or ""), extra=extra)

    @staticmethod
    def _recorded(lj: LineJob, row: dict) -> LineJob:
        """The line's job under the keys the dub recorded (its take is found and placed by them)."""
        key, said = row.get("key"), row.get("delivery")
        if not isinstance(key, str) or not key:
            return lj
        return replace(lj, job=replace(lj.job, key=key, delivery=said if isinstance(said, str) else lj.job.delivery))

    def line_index(self, line_id: str) -> int:
        """The row of ``line_id``; one InputError when the dub has no such line."""
        if line_id not in self.index:
            raise InputError("id", f"no line {line_id!r} in this dub")
        return self.index[line_id]

    def job_for(self, line_id: str, edit: Edit) -> LineJob:
        """The render job of ``line_id`` as edited: new text, voice, emotion, pace or window."""
        index = self.line_index(line_id)
        base, plan, tb = self.plan.lines[index], self.plan, self.tb
        rin = base.record_in if edit.record_in is None else edit.record_in
        rout = base.record_out if edit.record_out is None else edit.record_out
        if not base.record_in <= rin < rout <= base.record_out:
            raise InputError("in/out", f"the window must lie within the line's own {tb.tc(base.record_in)}-"
                                       f"{tb.tc(base.record_out)}, one frame at least")
        line = replace(base, text=edit.text or base.text, record_in=rin, record_out=rout,
                       emotion=base.emotion if edit.emotion is None else edit.emotion or None)
        performer = plan.performers[(base.character, base.lang)]
        if edit.engine or edit.voice:
            engine = edit.engine or performer.engine
            voice = edit.voice if edit.voice else performer.spec.voice if engine == performer.engine else None
            performer = replace(performer, engine=engine, spec=replace(performer.spec, voice=voice, speaker=None))
        speaker = get_engine(performer.engine)
        how = delivery(performer, line, speaker.info.native_prosody)
        how = replace(how, speed=how.speed * edit.pace)
        policy, tolerance = plan.policy, tb.samples_between(0, 1)
        head, tail = plan.guides.get(line.id, (policy.head_pad_ms * 48, policy.tail_pad_ms * 48))
        free = tb.sample_at(self.free_until[index]) - tb.sample_at(rout)
        window = fit.Window(samples=tb.samples_between(rin, rout), head_pad=head, tail_pad=tail, free_after=max(0, free))
        args = (speaker, line.text, how.spec, how.speed, how.semitones, how.gain_db)
        said = delivery_key(*args, policy, tolerance)
        key = take_key(*args, window, policy, tolerance, delivery=said)
        job = RenderJob(index, line, performer.engine, how.spec, how.speed, how.semitones, how.gain_db, window, policy,
                        tolerance, key, said, str(plan.options.cache or ""))
        return LineJob(line, window, performer, how, job)


def performer_of(row: dict) -> Performer:
    """The character's voice as the dub cast it: the row's ``performer``, else its engine and voice."""
    engine, lang = str(row.get("engine") or ""), str(row.get("lang") or "en")
    rec = row.get("performer")
    if isinstance(rec, dict) and isinstance(rec.get("spec"), dict):
        raw = dict(rec["spec"])
        raw["extra"] = tuple(tuple(pair) for pair in raw.get("extra") or ())
        known = {f.name for f in dataclasses.fields(VoiceSpec)}
        spec = VoiceSpec(**{k: v for k, v in raw.items() if k in known})
        return Performer(engine, spec, float(rec.get("rate", 1.0)), float(rec.get("semitones", 0.0)),
                         float(rec.get("gain_db", 0.0)), from_cast=True)
    voice = row.get("voice")
    return Performer(engine, VoiceSpec(voice=None if voice in (None, "", lang) else str(voice), lang=lang))


def stem_options(report: dict, mix_with: Path | None) -> StemOptions:
    """The dub's stems as its report describes them (mode, loudness target, true-peak limit)."""
    stems = report.get("stems") or {}
    loud = stems.get("loudness") or {}
    if "MIX" in (stems.get("files") or {}) and mix_with is None:
        raise InputError("--mix-with", "this dub has a full mix: name its M&E so a keep can render the mix again")
    defaults = StemOptions()
    return StemOptions(mode=str(stems.get("mode") or defaults.mode), loudness=loud.get("target_lkfs") if loud else None,
                       true_peak=loud.get("true_peak_limit_dbtp", defaults.true_peak) if loud else defaults.true_peak,
                       mix_with=mix_with)


def _identities(timeline: otio.schema.Timeline) -> dict[str, dict]:
    """Each dub clip's source identity (what conform recognises it by), by line id."""
    found = {}
    for track in timeline.tracks:
        if is_dub(track):
            for clip in track.find_clips():
                meta = clip.metadata.get(METADATA_KEY) or {}
                if meta.get("identity") and meta.get("line_id"):
                    found[str(meta["line_id"])] = {k: v for k, v in dict(meta["identity"]).items()}
    return found


def _subtitle_formats(out: Path) -> tuple[str, ...]:
    """The subtitle formats the dub wrote (a keep writes them again)."""
    folder = out / "subtitles"
    return tuple(sorted({p.suffix[1:] for p in folder.iterdir() if p.suffix in (".srt", ".vtt", ".ass")})) \
        if folder.is_dir() else ()
