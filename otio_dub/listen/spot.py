"""What a transcript becomes: subtitles, a dialogue list, transcript.json and a spotted timeline.

Every file is written under a temporary name and renamed. The spotted timeline is the input with
each event as a ``CHARACTER: text`` marker over its frames on its clip (the shape ``dub`` reads as
lines), so ``otio-dub dub <name>.spotted.otio`` dubs it as is, or after the text is translated.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import opentimelineio as otio

from ..audio.bwf import write_text_atomic
from ..core.version import __version__
from ..dialogue.dialogue_list import format_dialogue_list
from ..dialogue.lines import METADATA_KEY, is_dub
from ..dialogue.script import clean_text, split_speaker
from ..timelines.dub_timeline import media_path
from .listening import Transcript
from .segment import Event
from .subtitles import SUBTITLE_FORMATS, write_events


def dialogue_list_text(t: Transcript) -> str:
    """The dialogue list a translator adapts: TC IN, TC OUT, CHARACTER, LINE, LANG (absolute timecode)."""
    return format_dialogue_list([(t.tb.tc(e.start), t.tb.tc(e.end), e.speaker or "", e.text, e.lang or t.lang, "")
                                 for e in t.events])


def _seconds(frame: int, t: Transcript) -> float:
    return round(float(frame / t.tb.rate), 4)


def transcript_json(t: Transcript) -> str:
    """Every word (start, end, probability, speaker, clip) and every event, times from the timeline start."""
    clips = [{"index": c.index, "clip": c.clip.name, "track": c.track, "record_in": t.tb.tc(c.record_in),
              "record_out": t.tb.tc(c.record_out), "lang": c.lang, "lang_probability": c.lang_probability,
              "lang_source": c.lang_source or None,
              "languages": {code: round(p, 4) for code, p in list(c.languages.items())[:3]},
              "speech_over_floor_db": c.over_floor_db, "enhanced": c.enhanced} for c in t.clips]
    words = [{"text": w.text, "start": round(w.start, 3), "end": round(w.end, 3), "probability": round(w.probability, 3),
              "speaker": w.speaker, "clip": t.clips[w.clip].clip.name, "clip_index": w.clip} for w in t.words]
    events = [{"record_in": t.tb.tc(e.start), "record_out": t.tb.tc(e.end), "start": _seconds(e.start, t),
               "end": _seconds(e.end, t), "speaker": e.speaker, "lang": e.lang or t.lang, "lines": e.lines,
               "clip": t.clips[e.clip].clip.name} for e in t.events]
    doc = {
        "otio_dub": __version__, "timeline": t.timeline.name, "rate": float(t.tb.rate), "start": t.tb.tc(0),
        "model": t.model, "lang": t.lang, "enhanced": t.enhanced, "speakers": t.speakers,
        "clips": clips, "skipped": t.skipped, "events": events, "words": words,
    }
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def spotted_timeline(t: Transcript, base: Path | None) -> otio.schema.Timeline:
    """A copy of the timeline with each event as a ranged ``CHARACTER: text`` marker on its clip.

    A clip's own line text and ``CHARACTER: text`` markers (if any) move to ``script_text`` so the
    heard lines are what dub reads;
    relative media become absolute, so the copy finds them from wherever it is written.
    """
    spotted = copy.deepcopy(t.timeline)
    originals = list(t.timeline.find_clips())
    copies = list(spotted.find_clips())
    twin = {id(a): b for a, b in zip(originals, copies, strict=True)}
    by_clip: dict[int, list[Event]] = {}
    for event in t.events:
        by_clip.setdefault(event.clip, []).append(event)
    for heard in t.clips:
        clip = twin[id(heard.clip)]
        events = by_clip.get(heard.index, [])
        _absolute_media(clip, base)
        if not events:
            continue
        meta = dict(clip.metadata.get(METADATA_KEY) or {})
        script = [meta.pop("text")] if meta.get("text") else []
        first_marker = len(script)
        for index in reversed(range(len(clip.markers))):  # old CHARACTER: text markers would be lines again
            marker = clip.markers[index]
            said = next((t for t in (marker.comment, marker.name) if split_speaker(clean_text(t or ""))[0]), None)
            if said and not is_dub(marker):
                script.insert(first_marker, said)  # walking backwards: keep their order
                del clip.markers[index]
        if script:
            meta["script_text"] = " / ".join(script)
        meta.update(dialogue=True, spotted=True, lang=heard.lang or t.lang)
        clip.metadata[METADATA_KEY] = meta
        for event in events:
            clip.markers.append(_marker(clip, heard.record_in, event, t))
    return spotted


def _marker(clip: otio.schema.Clip, clip_in: int, event: Event, t: Transcript) -> otio.schema.Marker:
    """An event as a marker in the clip's own (source) time, which ``lines.py`` maps back to its frames."""
    used = clip.trimmed_range()
    rate = float(t.tb.rate)
    offset = otio.opentime.RationalTime(event.start - clip_in, rate).rescaled_to(used.start_time.rate)
    length = otio.opentime.RationalTime(event.end - event.start, rate).rescaled_to(used.start_time.rate)
    text = f"{event.speaker}: {event.text}" if event.speaker else event.text
    return otio.schema.Marker(
        name=text[:120], marked_range=otio.opentime.TimeRange(used.start_time + offset, length),
        color=otio.schema.MarkerColor.CYAN, comment=text,
        metadata={METADATA_KEY: {"role": "spotted", "character": event.speaker, "lang": event.lang or t.lang, "text": event.text,
                                 "confidence": round(min((w.probability for w in event.words), default=1.0), 3)}},
    )


def _absolute_media(clip: otio.schema.Clip, base: Path | None) -> None:
    ref = clip.media_reference
    if base is None or not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
        return
    try:
        path = media_path(ref.target_url, base)
    except ValueError:
        return
    if "://" not in ref.target_url and not Path(ref.target_url).is_absolute():
        ref.target_url = path.resolve().as_uri()


def write_outputs(t: Transcript, out_dir: Path, name: str, base: Path | None,
                  subtitle_formats: tuple[str, ...] = SUBTITLE_FORMATS) -> dict[str, Path]:
    """Write every output of a transcript into ``out_dir``; returns them by kind."""
    out_dir = Path(out_dir)
    written = write_events(t.events, t.tb.rate, out_dir, name, subtitle_formats, title=name)
    files = dict(zip(subtitle_formats, written, strict=True))
    files["csv"] = write_text_atomic(out_dir / f"{name}.csv", dialogue_list_text(t))
    files["json"] = write_text_atomic(out_dir / f"{name}.transcript.json", transcript_json(t))
    spotted = spotted_timeline(t, base)
    files["otio"] = write_text_atomic(out_dir / f"{name}.spotted.otio", otio.adapters.write_to_string(spotted, "otio_json"))
    return files
