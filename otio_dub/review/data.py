"""What the review page shows, read from a dub folder's own files only.

``report.json`` gives every line's fit figures and the stems' loudness; the ``.dub.otio`` gives
where each dub clip sits now (after an editor's slide or trim and ``otio-dub stems``) and the
original dialogue clips; ``media/`` and ``review/orig/`` give the audio. Nothing else is needed,
so ``otio-dub review DUB_DIR`` rebuilds the page at any time. Positions are frames from the
timeline start, exactly as the timeline holds them; the page does all drawing from them.
"""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from ..core.errors import InputError
from ..core.timebase import TimeBase, frames_of, parse_timecode
from ..dialogue.lines import METADATA_KEY, duration_frames, find_dialogue_tracks, is_dub, timebase_of
from .peaks import PEAK_BUCKETS, PeakCache

log = logging.getLogger("otio_dub")

#: where the originals under each line are extracted to, relative to the dub folder
ORIG_DIR = "review/orig"
PEAKS_CACHE = "review/peaks.json"  # the takes' thumbnails of the last build
REVIEW_ROLE = "review"  # otio_dub metadata role of the markers `otio-dub notes` puts on dub clips


def read_report(out_dir: Path) -> dict:
    """The dub's report.json; one clear error when the folder is not a dub folder."""
    path = out_dir / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(out_dir), "not a dub folder (no report.json)") from None
    except (OSError, ValueError) as exc:
        raise InputError(str(path), f"cannot read the dub report ({exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("lines"), list) or "rate" not in report:
        raise InputError(str(path), "not an otio-dub report (no rate or lines)")
    return report


def dub_timeline_path(out_dir: Path, report: dict) -> Path:
    """The folder's ``<timeline>.dub.otio`` (the one the report names, else the only one there)."""
    named = out_dir / f"{report.get('timeline') or 'timeline'}.dub.otio"
    if named.is_file():
        return named
    found = sorted(out_dir.glob("*.dub.otio"))
    if len(found) == 1:
        return found[0]
    raise InputError(str(out_dir), f"no {named.name} in the dub folder" if not found
                     else f"several .dub.otio files and none named {named.name}")


def read_dub_timeline(path: Path) -> otio.schema.Timeline:
    """The .dub.otio as written (no adapter hooks: otio-dub's own file is read as it is)."""
    try:
        timeline = otio.adapters.otio_json.read_from_string(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, otio.exceptions.OTIOError) as exc:
        raise InputError(str(path), f"cannot read the dub timeline ({exc})") from None
    if not isinstance(timeline, otio.schema.Timeline):
        raise InputError(str(path), "not a timeline")
    return timeline


def clock(timeline: otio.schema.Timeline, report: dict) -> TimeBase:
    """The timeline's clock, counting drop-frame exactly when the dub's own timecodes did."""
    said = report.get("drop_frame")
    start = str(report.get("start") or "")
    return timebase_of(timeline, drop_frame=said if isinstance(said, bool) else (";" in start if start else None))


def track_clips(track: otio.schema.Track, tb: TimeBase) -> list[tuple[otio.schema.Clip, int, int]]:
    """(clip, record in, record out) of a track's clips, in frames from the timeline start.

    One pass over the track (``range_of_all_children``), not a search per clip: 1,200 lines stay fast.
    Clips without a length, or nested in stacks, are left out: they cannot be drawn.
    """
    try:
        ranges = track.range_of_all_children()
    except otio.exceptions.OTIOError:
        return []
    found = []
    for child in track:
        if isinstance(child, otio.schema.Clip) and child in ranges:
            rng = ranges[child]
            found.append((child, frames_of(rng.start_time, tb.rate), frames_of(rng.end_time_exclusive(), tb.rate)))
    return found


def _meta(item: otio.core.SerializableObject) -> dict:
    meta = item.metadata.get(METADATA_KEY)
    return dict(meta) if hasattr(meta, "items") else {}


def review_marker(clip: otio.schema.Clip) -> otio.schema.Marker | None:
    """The marker `otio-dub notes` put on a dub clip, if any."""
    for marker in clip.markers:
        if _meta(marker).get("role") == REVIEW_ROLE:
            return marker
    return None


def dub_lanes(timeline: otio.schema.Timeline, tb: TimeBase) -> tuple[list[dict], dict[str, dict]]:
    """One lane per dub track, and per line id where its clip sits now (lane, in, out, notes)."""
    lanes: list[dict] = []
    placed: dict[str, dict] = {}
    for track in timeline.tracks:
        if not is_dub(track):
            continue
        lane = len(lanes)
        lanes.append({"name": track.name, "kind": "dub", "enabled": bool(track.enabled)})
        for clip, rin, rout in track_clips(track, tb):
            meta = _meta(clip)
            marker = review_marker(clip)
            note = _meta(marker).get("note") if marker is not None else None
            placed[str(meta.get("line_id") or clip.name)] = {
                "lane": lane, "in": rin, "clipOut": rout, "enabled": bool(clip.enabled and track.enabled),
                "key": meta.get("key") or "", "timelineNote": dict(note) if note is not None and hasattr(note, "items") else None,
            }
    return lanes, placed


def original_lanes(timeline: otio.schema.Timeline, tb: TimeBase, first_lane: int) -> tuple[list[dict], list[list]]:
    """One lane per original dialogue track; its clips as [lane, in, out, name]."""
    lanes: list[dict] = []
    clips: list[list] = []
    for track in find_dialogue_tracks(timeline):
        lane = first_lane + len(lanes)
        lanes.append({"name": track.name or "DIALOGUE", "kind": "orig", "enabled": bool(track.enabled)})
        clips += [[lane, rin, rout, clip.name or ""] for clip, rin, rout in track_clips(track, tb) if rout > rin]
    return lanes, clips


def _frame(text: object, tb: TimeBase, where: str) -> int:
    try:
        return parse_timecode(str(text), tb.rate) - tb.start_frame
    except ValueError as exc:
        raise InputError(where, str(exc)) from None


def _num(value: object) -> float | None:
    return round(float(value), 4) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def line_rows(report: dict, placed: dict[str, dict], tb: TimeBase, out_dir: Path, peaks: PeakCache) -> list[dict]:
    """The page's lines: the report's figures with each clip's current place and its audio."""
    rows, report_name = [], str(out_dir / "report.json")
    for index, row in enumerate(report["lines"]):
        where = f"{report_name}: line {index + 1}"
        lid = str(row.get("id") or f"line-{index + 1}")
        rin, rout = _frame(row.get("record_in"), tb, where), _frame(row.get("record_out"), tb, where)
        clip_out = _frame(row["clip_out"], tb, where) if row.get("clip_out") else rout
        place = placed.get(lid)
        shift = place["in"] - rin if place else 0  # an editor's slide moves the window with the clip
        media = str(row.get("media") or f"media/{lid}.wav")
        orig = f"{ORIG_DIR}/{lid}.wav"
        rows.append({
            "id": lid, "character": str(row.get("character") or ""), "lang": str(row.get("lang") or ""),
            "text": str(row.get("text") or ""), "emotion": row.get("emotion") or "",
            "status": str(row.get("status") or "fit"), "note": str(row.get("note") or ""),
            "in": rin + shift, "out": rout + shift, "clipOut": place["clipOut"] if place else clip_out,
            "lane": place["lane"] if place else -1, "enabled": place["enabled"] if place else False,
            "window": _num(row.get("window_s")), "target": _num(row.get("target_s")),
            "natural": _num(row.get("natural_s")), "speech": _num(row.get("speech_s")),
            "needed": _num(row.get("needed_speed")), "speed": _num(row.get("total_speed")),
            "rate": _num(row.get("rate_factor")), "stretch": _num(row.get("stretch_factor")),
            "passes": row.get("passes"), "borrowed": _num(row.get("borrowed_ms")),
            "onset": _num(row.get("onset_error_ms")), "offset": _num(row.get("offset_error_ms")),
            "voice": f"{row.get('engine') or ''} {row.get('voice') or ''}".strip(),
            "media": media if (out_dir / media).is_file() else None,
            "orig": orig if (out_dir / orig).is_file() else None,
            "key": (place or {}).get("key") or str(row.get("key") or ""),
            "peaks": peaks.peaks(out_dir / media, media), "timelineNote": (place or {}).get("timelineNote"),
        })
    return rows


def stems_section(out_dir: Path, report: dict) -> dict:
    """The stems' loudness: report.json's, or a newer ``stems.json`` from ``otio-dub stems`` into the folder."""
    section, base = report.get("stems") or {}, Path(".")
    report_time = (out_dir / "report.json").stat().st_mtime
    for manifest in sorted(p for p in [out_dir / "stems.json", *out_dir.glob("*/stems.json")] if p.is_file()):
        try:
            if manifest.stat().st_mtime >= report_time:
                section, base = json.loads(manifest.read_text(encoding="utf-8")), manifest.parent.relative_to(out_dir)
                report_time = manifest.stat().st_mtime
        except (OSError, ValueError) as exc:
            log.warning("%s: not read (%s)", manifest, exc)
    loud = section.get("loudness") or {}
    stems = []
    for name, info in (section.get("files") or {}).items():
        path = (base / str(info.get("path") or "")).as_posix()
        stems.append({"name": name, "path": path if (out_dir / path).is_file() else None,
                      "lkfs": _num(info.get("integrated_lkfs")), "truePeak": _num(info.get("true_peak_dbtp")),
                      "lra": _num(info.get("loudness_range_lu")), "gain": _num(info.get("gain_db"))})
    return {"target": _num(loud.get("target_lkfs")), "truePeakLimit": _num(loud.get("true_peak_limit_dbtp")),
            "setBy": loud.get("level_set_by"), "standard": loud.get("standard"), "files": stems}


def page_data(out_dir: Path) -> dict:
    """Everything the page draws, as plain JSON-able data (frames, seconds, relative paths)."""
    report = read_report(out_dir)
    timeline = read_dub_timeline(dub_timeline_path(out_dir, report))
    tb = clock(timeline, report)
    total = int(report.get("duration_frames") or duration_frames(timeline, tb))
    lanes, placed = dub_lanes(timeline, tb)
    orig_lanes, orig_clips = original_lanes(timeline, tb, len(lanes))
    peaks = PeakCache(out_dir / PEAKS_CACHE)
    lines = line_rows(report, placed, tb, out_dir, peaks)
    peaks.save()
    voices: dict[str, str] = {}
    for line in lines:
        voices.setdefault(f"{line['character']} ({line['lang']})", line["voice"])
    stems = stems_section(out_dir, report)
    dialogue = next((s["path"] for s in stems["files"] if s["name"] == "DIALOGUE" and s["path"]), None)
    rate = Fraction(tb.rate)
    return {
        "schema": 1, "otioDub": report.get("otio_dub"), "timeline": report.get("timeline") or timeline.name,
        "rate": [rate.numerator, rate.denominator], "fps": float(rate), "dropFrame": bool(tb.drop_frame),
        "startFrame": tb.start_frame, "durationFrames": total, "start": tb.tc(0), "end": tb.tc(total),
        "policy": report.get("policy") or {}, "summary": report.get("summary") or {}, "voices": voices,
        "stems": stems, "dialogue": dialogue, "lanes": lanes + orig_lanes, "origClips": orig_clips,
        "lines": lines, "peakBuckets": PEAK_BUCKETS,
        "engines": report.get("engines") or {},
    }
