"""CMX3600 EDLs of the dub tracks, the way Premiere and Resolve write audio EDLs.

OTIO's EDL writer takes one track, wants a video track, writes no ``FCM:`` line (a reader then
counts ';' timecodes non-drop: 18 s late at 5 h), ignores the start timecode and lets non-ASCII
through. Here each dub track is one EDL: ``TITLE:`` and ``FCM:``, one ``AX``/``A`` cut per line
at its absolute record timecode, its source timecode the line file's own (the BWF TimeReference),
``* FROM CLIP NAME:`` with the file name, and ``* FROM CLIP:`` / ``* SOURCE FILE:`` with its path
for relinking (Avid reads the first, Premiere and Resolve the second).
The file is ASCII throughout; a path that is not is given by its file name only.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from ..core.timebase import TimeBase, frames_of, timecode
from .media import link_url

#: CMX3600 allows 999 events per list
MAX_EVENTS = 999


def ascii_text(text: str) -> str:
    """``text`` in ASCII: accents dropped (é -> e), anything else as '?', no control characters."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c if c.isprintable() else " " for c in plain).strip()


def edl_for_track(track: otio.schema.Track, title: str, tb: TimeBase, link_dir: Path) -> list[str]:
    """The CMX3600 text of one audio track: one event per clip, record timecodes absolute. A track
    of more than 999 clips (the most a list numbers) is split into lists of 999, in order."""
    drop = bool(tb.drop_frame)
    events: list[list[str]] = []
    for clip in track.find_clips(shallow_search=True):
        placed = clip.transformed_time_range(clip.trimmed_range(), track)
        rec_in = tb.start_frame + frames_of(placed.start_time, tb.rate)
        rec_out = tb.start_frame + frames_of(placed.end_time_exclusive(), tb.rate)
        if rec_out <= rec_in:
            continue
        src_in = frames_of(clip.trimmed_range().start_time, tb.rate)
        src_out = src_in + rec_out - rec_in
        tcs = " ".join(timecode(f, tb.rate, drop) for f in (src_in, src_out, rec_in, rec_out))
        url = getattr(clip.media_reference, "target_url", None) or ""
        name, source = _names(clip, url, link_dir)
        event = [f"AX       A     C        {tcs}", f"* FROM CLIP NAME: {name}"]
        if source:
            event += [f"* FROM CLIP: {source}", f"* SOURCE FILE: {source}"]  # Avid's link; Premiere's and Resolve's
        events.append(event)
    parts = [events[i:i + MAX_EVENTS] for i in range(0, len(events), MAX_EVENTS)] or [[]]
    head = ascii_text(title)[:60] or "otio-dub"
    texts = []
    for n, part in enumerate(parts, 1):
        name = head if len(parts) == 1 else f"{head} ({n} of {len(parts)})"
        lines = [f"TITLE: {name}", f"FCM: {'DROP FRAME' if drop else 'NON-DROP FRAME'}", ""]
        for number, event in enumerate(part, 1):
            lines += [f"{number:03d}  {event[0]}", *event[1:], ""]
        texts.append("\n".join(lines).rstrip("\n") + "\n")
    return texts


def _names(clip: otio.schema.Clip, url: str, link_dir: Path) -> tuple[str, str]:
    """(clip name with the file's extension, the file's absolute path, or its name when the path is not ASCII)."""
    if not url:
        return ascii_text(clip.name) or "clip", ""
    path = unquote(urlparse(link_url(url, link_dir)).path)
    file_name = Path(path).name
    name = ascii_text(file_name) or ascii_text(clip.name) or "clip"
    return name, path if path.isascii() and path.isprintable() else name
