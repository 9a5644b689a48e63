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

from .aaf_writer import link_url
from .timebase import TimeBase, frames_of, timecode

#: CMX3600 allows 999 events per list
MAX_EVENTS = 999


def ascii_text(text: str) -> str:
    """``text`` in ASCII: accents dropped (é -> e), anything else as '?', no control characters."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c if c.isprintable() else " " for c in plain).strip()


def edl_for_track(track: otio.schema.Track, title: str, tb: TimeBase, link_dir: Path) -> str:
    """The CMX3600 text of one audio track: one event per clip, record timecodes absolute."""
    drop = bool(tb.drop_frame)
    lines = [f"TITLE: {ascii_text(title)[:70] or 'otio-dub'}", f"FCM: {'DROP FRAME' if drop else 'NON-DROP FRAME'}", ""]
    number = 0
    for clip in track.find_clips(shallow_search=True):
        placed = clip.transformed_time_range(clip.trimmed_range(), track)
        rec_in = tb.start_frame + frames_of(placed.start_time, tb.rate)
        rec_out = tb.start_frame + frames_of(placed.end_time_exclusive(), tb.rate)
        if rec_out <= rec_in:
            continue
        number += 1
        if number > MAX_EVENTS:
            raise ValueError(f"track {track.name!r} has more than {MAX_EVENTS} clips, the most a CMX3600 EDL holds")
        src_in = frames_of(clip.trimmed_range().start_time, tb.rate)
        src_out = src_in + rec_out - rec_in
        tcs = " ".join(timecode(f, tb.rate, drop) for f in (src_in, src_out, rec_in, rec_out))
        lines.append(f"{number:03d}  AX       A     C        {tcs}")
        url = getattr(clip.media_reference, "target_url", None) or ""
        name, source = _names(clip, url, link_dir)
        lines.append(f"* FROM CLIP NAME: {name}")
        if source:
            lines.append(f"* FROM CLIP: {source}")  # Avid's (and OTIO's reader's) media link
            lines.append(f"* SOURCE FILE: {source}")  # Premiere's and Resolve's
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _names(clip: otio.schema.Clip, url: str, link_dir: Path) -> tuple[str, str]:
    """(clip name with the file's extension, the file's absolute path, or its name when the path is not ASCII)."""
    if not url:
        return ascii_text(clip.name) or "clip", ""
    path = unquote(urlparse(link_url(url, link_dir)).path)
    file_name = Path(path).name
    name = ascii_text(file_name) or ascii_text(clip.name) or "clip"
    return name, path if path.isascii() and path.isprintable() else name
