"""``transcribe``: the timeline's original dialogue -> words, speakers, subtitle events.

decode each dialogue clip's source range -> enhance (DeepFilterNet3) -> faster-whisper words ->
a voiceprint per run of words, clustered across the timeline -> subtitle events on its frames.
``spot.py`` writes what this finds.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import opentimelineio as otio

from ..core.timebase import SAMPLE_RATE, TimeBase, frames_of
from ..dialogue.lines import METADATA_KEY, find_dialogue_tracks, is_dialogue_track_name, is_dub, timebase_of
from ..dialogue.script import clean_text, split_speaker
from ..timelines.timeline_io import read_timeline
from .media import clip_audio
from .media import enhance as enhance_audio
from .segment import DEFAULT_RULES, Event, Rules, Word, group_words, segment

if TYPE_CHECKING:
    from .asr import Recognizer

log = logging.getLogger("otio_dub")

#: progress(done, total, clip name): called after each clip is heard (or skipped).
Progress = Callable[[int, int, str], None]

#: Track names that name no one: "A1", "Audio 2", "Track 3", "Dialogue", "Mono (1)".
_GENERIC_TRACK = re.compile(r"^\s*(a|audio|track|mono|stereo|st|ch|channel|sound|snd|mix|fx|sfx|m ?& ?e|music)?[\s_\-()]*\d*[\s()]*$", re.I)


#: Words of track names that say what a track carries, not who: "Boom", "Lav 2", "Atmos", "Guide mix".
_NOT_A_CHARACTER = frozenset("""a audio track mono stereo left right centre center ch channel sound snd mix fx sfx
    music mx boom lav lavalier mic radio atmos atmo ambience amb room tone foley production prod wild guide scratch
    temp sync cam camera stem bed nat natural effects dialog dialogue dialogs original orig sum""".split())


@dataclass
class HeardClip:
    """One dialogue clip: where it sits (frames from the timeline start) and what was heard in it."""

    index: int
    clip: otio.schema.Clip
    track: str
    record_in: int
    record_out: int
    hints: list[tuple[int, int, str]] = field(default_factory=list)  # (in, out, character) the timeline names
    words: list[Word] = field(default_factory=list)
    lang: str | None = None
    lang_probability: float | None = None  # how sure: the chosen language's share of the evidence used
    lang_source: str = ""  # "given" (--lang L), "clip" (its own speech), "speaker" (its speaker's, across clips)
    languages: dict[str, float] = field(default_factory=dict)  # the clip's own language probabilities


@dataclass
class Transcript:
    """What ``hear`` found: events to write, every word, the speakers, and the clips left unread."""

    timeline: otio.schema.Timeline
    tb: TimeBase
    clips: list[HeardClip]
    words: list[Word]
    events: list[Event]
    speakers: list[str]
    lang: str
    skipped: list[str]
    model: str
    enhanced: bool


def _track_character(track: otio.schema.Track) -> str | None:
    """A track named for a character (``ANNA``, ``Dia - Bob``), not ``A1`` or ``DIALOGUE``."""
    name = (track.name or "").strip()
    if not name or _GENERIC_TRACK.match(name):
        return None
    words = [w for w in re.findall(r"[A-Za-z\u00C0-\u024F][\w'\-]*", name) if not is_dialogue_track_name(w)]
    if not words or len(words) > 3 or any(w.lower() in _NOT_A_CHARACTER for w in words):
        return None
    return " ".join(words).upper()


def _hints(clip: otio.schema.Clip, track: otio.schema.Track, rin: int, rout: int, tb: TimeBase,
           timeline: otio.schema.Timeline) -> list[tuple[int, int, str]]:
    """Who the timeline says speaks where in a clip: metadata, ``CHARACTER: text`` markers, the track name."""
    meta = clip.metadata.get(METADATA_KEY) or {}
    character = meta.get("character") if hasattr(meta, "get") else None
    if not character and hasattr(meta, "get") and meta.get("text"):
        character = split_speaker(clean_text(str(meta["text"])))[0]
    if character:
        return [(rin, rout, str(character))]
    found = []
    for marker in clip.markers:
        who = next((split_speaker(clean_text(t or ""))[0] for t in (marker.comment, marker.name)
                    if split_speaker(clean_text(t or ""))[0]), None)
        if who and not is_dub(marker):
            rng = clip.transformed_time_range(marker.marked_range, timeline.tracks)
            m_in = frames_of(rng.start_time, tb.rate)
            m_out = max(frames_of(rng.end_time_exclusive(), tb.rate), m_in + 1)
            found.append((m_in, m_out, who))
    if found:
        found.sort()  # a point marker speaks until the next one (as lines.py reads them)
        return [(rin if i == 0 and b - a <= 1 else a, b if b - a > 1 else (found[i + 1][0] if i + 1 < len(found) else rout), who)
                for i, (a, b, who) in enumerate(found)]
    who = _track_character(track)
    return [(rin, rout, who)] if who else []


def dialogue_clips(timeline: otio.schema.Timeline, tb: TimeBase, tracks: Sequence[str] = ()) -> list[HeardClip]:
    """The enabled clips of the dialogue tracks (``dub``'s track rules), in record order."""
    found = []
    for track in find_dialogue_tracks(timeline, tracks):
        if not track.enabled:
            continue
        for clip in track.find_clips():
            if not clip.enabled or is_dub(clip):
                continue
            try:
                rng = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
            except otio.exceptions.OTIOError:
                log.warning("clip %r on track %r has no length; skipped", clip.name, track.name)
                continue
            rin, rout = frames_of(rng.start_time, tb.rate), frames_of(rng.end_time_exclusive(), tb.rate)
            if rout > rin:
                found.append(HeardClip(0, clip, track.name, rin, rout, _hints(clip, track, rin, rout, tb, timeline)))
    found.sort(key=lambda c: (c.record_in, c.record_out, c.track))
    for i, heard in enumerate(found):
        heard.index = i
    return found


@dataclass
class _Run:
    """A run of words in one clip (split at pauses) with the voiceprint of its sound."""

    words: list[Word]
    voiceprint: np.ndarray
    hint: str | None

    @property
    def speech(self) -> float:
        return sum(w.end - w.start for w in self.words)


def _runs(heard: HeardClip, audio: np.ndarray, tb: TimeBase, rules: Rules) -> list[_Run]:
    """The clip's words in runs, each with a voiceprint of the original sound (DeepFilterNet's output
    blurs voices: measured) and the character the timeline names there, if any."""
    from .speakers import get_voiceprints

    encoder = get_voiceprints()
    origin = float(Fraction(heard.record_in) / tb.rate)
    runs = []
    for words in group_words(heard.words, rules, sentences=False):
        a = max(0, round((words[0].start - origin - 0.05) * SAMPLE_RATE))
        b = min(audio.size, round((words[-1].end - origin + 0.05) * SAMPLE_RATE))
        mid = tb.frame_of_seconds((words[0].start + words[-1].end) / 2)
        hint = next((who for lo, hi, who in heard.hints if lo <= mid < hi), None)
        runs.append(_Run(words, encoder.embed(audio[a:max(b, a + 1)], SAMPLE_RATE), hint))
    return runs


def _attribute(runs: list[_Run], speakers: int | None) -> tuple[list[Word], list[str]]:
    """Words with their speaker: the runs' voiceprints clustered across the timeline (the timeline's
    own character hints anchoring clusters), clusters named."""
    from .speakers import RELIABLE_S, cluster, name_clusters

    if not runs:
        return [], []
    labels = cluster(np.array([r.voiceprint for r in runs]), [r.speech >= RELIABLE_S for r in runs], speakers,
                     anchors=[r.hint for r in runs])
    names = name_clusters(labels, [r.hint for r in runs], [r.speech for r in runs])
    out = [Word(w.text, w.start, w.end, w.probability, names[label], w.clip)
           for run, label in zip(runs, labels, strict=True) for w in run.words]
    return out, list(dict.fromkeys(names[label] for label in labels))


def _listen(heard: HeardClip, audio: np.ndarray, asr: Recognizer, enhance: bool, tb: TimeBase, rules: Rules,
            language: str | None = None) -> list[_Run]:
    """Recognise one clip (in ``language``, else the likeliest of the candidates for its own speech)
    and return its runs of words with their voiceprints."""
    sound = enhance_audio(audio) if enhance else audio
    if language is None and asr.lang is None:
        heard.languages = asr.languages(sound, SAMPLE_RATE)
        if heard.languages:
            language = next(iter(heard.languages))
            heard.lang_probability, heard.lang_source = round(heard.languages[language], 4), "clip"
    elif asr.lang is not None:
        heard.lang_probability, heard.lang_source = 1.0, "given"
    found, heard.lang = asr.words(sound, SAMPLE_RATE, language)
    origin = float(Fraction(heard.record_in) / tb.rate)
    limit = float(Fraction(heard.record_out) / tb.rate)
    heard.words = [Word(w.text, min(origin + w.start, limit), min(origin + max(w.end, w.start), limit),
                        w.probability, None, heard.index) for w in found]
    return _runs(heard, audio, tb, rules)


def hear(
    timeline: str | Path | otio.schema.Timeline,
    *,
    model: str | None = None,
    lang: str | None = None,
    speakers: int | None = None,
    enhance: bool = True,
    dialogue_tracks: Sequence[str] = (),
    progress: Progress | None = None,
    rules: Rules = DEFAULT_RULES,
    recognizer: Recognizer | None = None,
) -> Transcript:
    """Listen to the dialogue clips of ``timeline``: words with speakers, cut into subtitle events.

    ``lang``: one language (``fr``), or the candidates (``en,fr``) each clip's language is chosen
    from; None: any the model knows. A clip whose own speech does not settle its language takes its
    speaker's (pooled over the speaker's clips) and is heard again in it.
    ``recognizer`` (an ``asr.Recognizer``) lets a caller load the model once for many timelines.
    """
    from .asr import get_recognizer
    from .languages import decide_languages

    if isinstance(timeline, otio.schema.Timeline):
        source, base = timeline, None
    else:
        source, base = read_timeline(timeline), Path(timeline).resolve().parent
    tb = timebase_of(source)
    clips = dialogue_clips(source, tb, dialogue_tracks)
    asr = recognizer or get_recognizer(model, lang)
    skipped: list[str] = []
    runs: dict[int, list[_Run]] = {}
    for done, heard in enumerate(clips, 1):
        audio = clip_audio(heard.clip, base)
        if audio is None:
            skipped.append(f"clip {heard.clip.name!r} on track {heard.track!r} at {tb.tc(heard.record_in)}: no readable media")
            log.warning("%s; skipped", skipped[-1])
        else:
            runs[heard.index] = _listen(heard, audio, asr, enhance, tb, rules)  # now: no clip's audio outlives its turn
        if progress:
            progress(done, len(clips), heard.clip.name)
    attributed, names = _attribute([r for i in sorted(runs) for r in runs[i]], speakers)
    if asr.lang is None:
        again = decide_languages(clips, attributed)
        for heard in again:  # heard in the wrong language: once more in its speaker's
            audio = clip_audio(heard.clip, base)
            if audio is not None:
                log.info("clip %r: heard again in %s (its speaker's language)", heard.clip.name, heard.lang)
                runs[heard.index] = _listen(heard, audio, asr, enhance, tb, rules, heard.lang)
        if again:
            attributed, names = _attribute([r for i in sorted(runs) for r in runs[i]], speakers)
    events = segment(attributed, tb.rate, [(c.record_in, c.record_out) for c in clips], rules)
    for event in events:
        event.lang = clips[event.clip].lang
    spoken: dict[str, float] = {}
    for heard in clips:
        if heard.words and heard.lang:
            spoken[heard.lang] = spoken.get(heard.lang, 0.0) + sum(w.end - w.start for w in heard.words)
    main = max(spoken, key=spoken.__getitem__) if spoken else (lang if lang and "," not in lang else "und")
    return Transcript(source, tb, clips, attributed, events, names, main, skipped, getattr(asr, "name", str(model)), enhance)
