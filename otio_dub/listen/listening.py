"""``transcribe``: the timeline's original dialogue -> words, speakers, subtitle events.

decode each dialogue clip's source range -> enhance if noisy (DeepFilterNet3) -> faster-whisper words ->
a speaker embedding (CAM++) per run of words, clustered across the timeline -> subtitle events on its frames.
``spot.py`` writes what this finds.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import opentimelineio as otio

from ..core.threads import available_cores
from ..core.timebase import TimeBase, frames_of
from ..dialogue.lines import METADATA_KEY, find_dialogue_tracks, is_dialogue_track_name, is_dub, timebase_of
from ..dialogue.script import clean_text, split_speaker
from ..timelines.timeline_io import read_timeline
from .clip_listen import HeardClip, Run
from .media import ListenError
from .pool import hear_clips
from .segment import DEFAULT_RULES, Event, Rules, Word, segment

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


def _attribute(runs: list[Run], speakers: int | None) -> tuple[list[Word], list[str]]:
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
    jobs: int | None = 1,
    ray: str | None = None,
) -> Transcript:
    """Listen to the dialogue clips of ``timeline``: words with speakers, cut into subtitle events.

    ``lang``: one language (``fr``), or the candidates (``en,fr``) each clip's language is chosen
    from; None: any the model knows. A clip whose own speech does not settle its language takes its
    speaker's (pooled over the speaker's clips) and is heard again in it.
    ``recognizer`` (an ``asr.Recognizer``) lets a caller load the model once for many timelines
    (its clips are then heard in this process). ``jobs``: worker processes the clips are heard in
    (1: this process; None: one per core, as the CLI does), the same transcript whatever the number.
    Workers are spawned: a script that passes ``jobs`` other than 1 needs ``if __name__ == "__main__":``.
    ``ray``: hear the clips as Ray tasks instead (``"local"``: a Ray started on ``jobs`` cores, so pass
    ``jobs=None`` for every core; ``"auto"`` or an address: a running cluster whose workers have the
    listen extra), the same transcript again; not with ``recognizer``.
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
    if jobs is not None and jobs < 1:
        raise ListenError(f"--jobs must be 1 or more, got {jobs}")
    if recognizer is not None:
        jobs, ray = 1, None  # the caller's model, in this process
    else:
        jobs = jobs or available_cores()
    heard = hear_clips(clips, base, tb, rules, enhance, lambda: asr, model, lang, jobs, progress=progress, ray=ray)
    skipped = [f"clip {c.clip.name!r} on track {c.track!r} at {tb.tc(c.record_in)}: no readable media"
               for c in clips if heard.get(c.index) is None]
    for line in skipped:
        log.warning("%s; skipped", line)
    runs = {index: found for index, found in heard.items() if found is not None}
    attributed, names = _attribute([r for i in sorted(runs) for r in runs[i]], speakers)
    if asr.lang is None:
        again = decide_languages(clips, attributed)  # heard in the wrong language: once more in its speaker's
        for clip in again:
            log.info("clip %r: heard again in %s (its speaker's language)", clip.clip.name, clip.lang)
        languages = {c.index: str(c.lang) for c in again}
        redo = [c for c in again if c.index in runs]
        # a few clips are heard again here: a fresh pool would load every model again for them
        many = len(redo) > 4 * jobs
        redone = hear_clips(redo, base, tb, rules, enhance, lambda: asr, model, lang, jobs if many else 1, languages,
                            ray=ray if many else None)
        runs.update({index: found for index, found in redone.items() if found is not None})
        if again:
            attributed, names = _attribute([r for i in sorted(runs) for r in runs[i]], speakers)
    events = segment(attributed, tb.rate, [(c.record_in, c.record_out) for c in clips], rules)
    for event in events:
        event.lang = clips[event.clip].lang
    spoken: dict[str, float] = {}
    for clip in clips:
        if clip.words and clip.lang:
            spoken[clip.lang] = spoken.get(clip.lang, 0.0) + sum(w.end - w.start for w in clip.words)
    main = max(spoken, key=spoken.__getitem__) if spoken else (lang if lang and "," not in lang else "und")
    return Transcript(source, tb, clips, attributed, events, names, main, skipped, getattr(asr, "name", str(model)), enhance)
