"""Writing the dub timeline back in the editor's own format, so it imports with every dub clip linked.

The lossless ``<name>.dub.otio`` is always written (the stems and conform commands read it);
``--to`` adds the NLE file. Which application each writer follows, and what it cannot carry, is in
README's "Formats" table:

* AAF (``aaf``): pyaaf2 directly (``aaf_writer``), the linked-WAV shape Pro Tools and Media
  Composer read; ``aaf_embed`` puts the line media inside the AAF.
* FCPXML (``fcpxml``): written directly (``fcpxml_writer``) the way Final Cut Pro writes audio.
* CMX3600 (``edl``): one EDL per dub track (``edl_writer``), as Premiere and Resolve write them.
* FCP7 XML (``xml``): from another format, OTIO's writer (Premiere's dialect) for the editor's
  tracks, then the dub added by ``patch_xml``.
* ``otioz`` / ``otiod``: bundles with the line media inside; only audio and video files are
  bundled (anything else a timeline names is left out, with a warning).

When the input is of the format written (the default), the editor's own file is patched instead
(``patcher``: FCP7 XML, FCPXML and its bundle, AAF): the dub is added, stamped, to a copy of that
document and nothing else in it changes (docs/formats.md).

NLE files name media by absolute file URL: relative URLs (``media/<id>.wav``) are read in
``out_dir`` (which may be a staging folder) and linked as they will be in ``link_dir`` (the
output folder once the dub is in place).
"""

from __future__ import annotations

import copy
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import opentimelineio as otio

from ..audio.bwf import write_text_atomic
from ..core.errors import InputError, OtioDubError, OutputError
from ..core.timebase import TimeBase, timecode
from ..dialogue.lines import is_dub
from .aaf_writer import write_aaf
from .carry import report_losses
from .edl_writer import edl_for_track
from .fcpxml_writer import write_fcpxml
from .media import link_url, local_file

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

log = logging.getLogger("otio_dub")

#: --to name -> (OTIO adapter, file suffix)
FORMATS: dict[str, tuple[str, str]] = {
    "otio": ("otio_json", ".otio"),
    "otioz": ("otioz", ".otioz"),
    "otiod": ("otiod", ".otiod"),
    "xml": ("fcp_xml", ".xml"),
    "fcpxml": ("fcpx_xml", ".fcpxml"),
    "fcpxmld": ("fcpx_xml", ".fcpxmld"),  # Final Cut Pro 10.6+'s bundle: a folder around an Info.fcpxml
    "edl": ("cmx_3600", ".edl"),
    "aaf": ("AAF", ".aaf"),
}
_BY_SUFFIX = {suffix: name for name, (_, suffix) in FORMATS.items()}


def format_of(path: str | Path) -> str:
    """The ``--to`` name matching an input file (scripts and dialogue lists dub to ``otio``)."""
    return _BY_SUFFIX.get(Path(path).suffix.lower(), "otio")


def absolute_media(timeline: otio.schema.Timeline, out_dir: Path) -> otio.schema.Timeline:
    """A copy whose dub clips point at their media by absolute file URL (what NLEs relink by)."""
    copied = copy.deepcopy(timeline)
    for clip in copied.find_clips():
        ref = clip.media_reference
        if is_dub(clip) and isinstance(ref, otio.schema.ExternalReference) and "://" not in ref.target_url:
            ref.target_url = link_url(ref.target_url, out_dir)
    return copied


def check_writable(fmt: str, tb: TimeBase) -> None:
    """Refuse, before any work is done, a format otio-dub does not write.

    Every writer takes every rate, DF or NDF, media at other rates and generators (written as
    filler or gaps, with a warning), so only the name can be wrong."""
    if fmt not in FORMATS:
        raise InputError("--to", f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


def write_timeline(timeline: otio.schema.Timeline, out_dir: Path, name: str, fmt: str, tb: TimeBase, *,
                   aaf_embed: bool = False, link_dir: Path | None = None, source: Path | None = None) -> list[Path]:
    """Write the dub timeline as ``fmt`` into ``out_dir``; returns the files written.

    ``link_dir``: the folder the NLE file's relative media will be in when it is opened (default
    ``out_dir``); give the final output folder when ``out_dir`` is a staging folder. ``source``: the
    editor's own file; when it is of format ``fmt`` and a patcher exists for it, the dub is added to a
    copy of that document (every other element kept as it was) instead of regenerated through OTIO.
    """
    check_writable(fmt, tb)
    out_dir = Path(out_dir)
    link = Path(os.path.abspath(link_dir or out_dir))
    adapter, suffix = FORMATS[fmt]
    target = out_dir / f"{name}.dub{suffix}"
    patch = patcher(fmt) if source is not None and format_of(source) == fmt else None
    if patch is not None and source is not None:  # a patcher is only found for a source
        return [_atomic_file(target, lambda tmp: patch(Path(source), timeline, Path(tmp), tb, out_dir, link,
                                                       embed=aaf_embed))]
    report_losses(timeline, fmt)  # regenerated through OTIO's model: say what it drops, per kind
    if fmt == "otio":
        return [write_text_atomic(target, otio.adapters.write_to_string(timeline, adapter))]
    if fmt == "aaf":
        return [_atomic_file(target, lambda tmp: write_aaf(timeline, Path(tmp), tb, out_dir, link_dir=link,
                                                           embed=aaf_embed))]
    if fmt in ("fcpxml", "fcpxmld"):
        return [_atomic_file(target, lambda tmp: _write_fcpx(timeline, Path(tmp), tb, out_dir, link, fmt == "fcpxmld"))]
    if fmt == "edl":
        return _write_edls(timeline, out_dir, name, tb, link)
    if fmt == "xml":
        return [_atomic_file(target, lambda tmp: _write_fcp7(timeline, Path(tmp), tb, out_dir, link))]
    bundle = _bundle_copy(timeline, out_dir)
    return [_atomic_file(target, lambda tmp: otio.adapters.write_to_file(
        bundle, tmp, adapter_name=adapter, media_policy="MissingIfNotFile"))]


def _without_dub(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy of ``timeline`` without its dub tracks: what a cross-format writer regenerates, before the
    same-format patcher adds the dub (stamped, so ``notes`` and a re-dub find and replace it)."""
    editor = copy.deepcopy(timeline)
    for track in [t for t in editor.tracks if is_dub(t)]:
        editor.tracks.remove(track)
    return editor


def _write_fcp7(timeline: otio.schema.Timeline, path: Path, tb: TimeBase, media_dir: Path, link: Path) -> None:
    """FCP7 XML from another format: the editor's tracks through OTIO's writer (Premiere's dialect),
    the sequence labelled in the dub's DF/NDF, then the dub patched in."""
    from .patch_xml import patch

    nle = absolute_media(timeline, link)
    _mark_drop_frame(nle, tb)
    _simplify_for_fcp7(nle)
    if nle.global_start_time is None:  # the writer gives the sequence a <timecode> only from a start time
        nle.global_start_time = otio.opentime.RationalTime(tb.start_frame, float(tb.rate))
    otio.adapters.write_to_file(_without_dub(nle), str(path), adapter_name=FORMATS["xml"][0])
    _relabel_sequences(path, tb)
    patch(path, nle, path, tb, media_dir, link)


def _write_fcpx(timeline: otio.schema.Timeline, path: Path, tb: TimeBase, media_dir: Path, link: Path,
                bundle: bool) -> None:
    """FCPXML (or a ``.fcpxmld`` bundle around it) from another format: the editor's tracks written the
    way Final Cut Pro writes them (``fcpxml_writer``), then the dub patched in as connected clips."""
    from .patch_fcpxml import patch

    if bundle:
        path.mkdir()
        path = path / "Info.fcpxml"
    write_fcpxml(_without_dub(timeline), path, tb, media_dir, link_dir=link)
    patch(path, timeline, path, tb, media_dir, link)


def patcher(fmt: str) -> Callable[..., None] | None:
    """The same-format patcher of ``fmt``, or None where the format has none (EDL: the editor's EDL is
    not rewritten; OTIO: its own writer is lossless).

    A patcher's signature: ``patch(source, dubbed, target, tb, media_dir, link_dir, *, embed=False)``:
    read the editor's file ``source``, drop what otio-dub stamped in it earlier, add the dub clips of
    ``dubbed`` (media read in ``media_dir``, linked as in ``link_dir``), write ``target``."""
    if fmt == "xml":
        from .patch_xml import patch
    elif fmt == "fcpxml":
        from .patch_fcpxml import patch
    elif fmt == "fcpxmld":
        from .patch_fcpxmld import patch
    elif fmt == "aaf":
        from .patch_aaf import patch
    else:
        return None
    return patch


def _atomic_file(path: Path, write: Callable[[str], None]) -> Path:
    """Let ``write`` produce a file at a temporary name, then rename it to ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers create the file themselves (otiod: a folder)
    try:
        write(tmp)
        if path.is_dir():  # an .otiod bundle from an earlier run: move it aside, put the new one in, drop it
            aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, aside / path.name)
            os.replace(tmp, path)
            _remove(aside)
        else:
            os.replace(tmp, path)
    except Exception as exc:  # writers raise anything, over several lines: one line, naming the file
        _remove(Path(tmp))
        if isinstance(exc, OtioDubError):  # ours already names the file (a patcher's damaged input, say)
            raise
        if isinstance(exc, OSError) and exc.strerror:
            raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
        detail = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise OutputError(f"{path}: the {path.suffix} writer failed ({type(exc).__name__}: {detail})") from None
    return path


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "track"


def _write_edls(timeline: otio.schema.Timeline, out_dir: Path, name: str, tb: TimeBase, link: Path) -> list[Path]:
    """One EDL per dub track (CMX3600 lists are one programme channel each); a track of more than
    999 lines continues in ``<...>.part2.edl`` and on."""
    written = []
    for track in (t for t in timeline.tracks if is_dub(t)):
        stem = f"{name}.dub.{_slug(track.name)}"
        for n, text in enumerate(edl_for_track(track, f"{name} {track.name}", tb, link), 1):
            written.append(write_text_atomic(out_dir / (f"{stem}.edl" if n == 1 else f"{stem}.part{n}.edl"), text))
    return written


def _simplify_for_fcp7(timeline: otio.schema.Timeline) -> None:
    """What OTIO's FCP7 writer and reader trip over, made plain: nested stacks and tracks flattened
    in place (a re-read fails on their clipitems), generators as gaps (the writer stops on them)."""
    from .fcpxml_writer import flattened

    left: list[str] = []
    for track in timeline.tracks:
        if not isinstance(track, otio.schema.Track):
            continue
        for index in reversed(range(len(track))):
            item = track[index]
            if isinstance(item, (otio.schema.Stack, otio.schema.Track)):
                flat = flattened(item, track.kind, left)
                items = [child.clone() for child in flat[0]] if flat else []
                if not items:
                    items = [otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=item.duration()))]
            elif isinstance(item, otio.schema.Clip) and isinstance(item.media_reference, otio.schema.GeneratorReference):
                left.append(f"generator {item.name!r} on track {track.name!r} (a gap instead)")
                items = [otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=item.duration()))]
            else:
                continue
            del track[index]
            for offset, child in enumerate(items):
                track.insert(index + offset, child)
    for index, clip in enumerate(timeline.find_clips()):
        # the writer writes a clip equal to an earlier one as a bare back-reference, which its own
        # reader (and Premiere's import of a track item) cannot resolve: make every clip distinct
        clip.metadata["otio_dub_item"] = index
    if left:
        log.warning("FCP7 XML cannot carry %s", "; ".join(sorted(set(left))))


def _mark_drop_frame(timeline: otio.schema.Timeline, tb: TimeBase) -> None:
    """FCP7 XML labels the sequence timecode by its ``displayformat``: the dub's own DF/NDF."""
    fcp = dict(timeline.metadata.get("fcp_xml") or {})
    timecode_meta = dict(fcp.get("timecode") or {})
    timecode_meta["displayformat"] = "DF" if tb.drop_frame else "NDF"  # rate and frame: from the start time
    fcp["timecode"] = timecode_meta
    timeline.metadata["fcp_xml"] = fcp


def _relabel_sequences(path: Path, tb: TimeBase) -> None:
    """The sequence timecodes OTIO's writer labels by rate, labelled in the dub's own DF/NDF."""
    import xml.etree.ElementTree as ET

    text = path.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    display = "DF" if tb.drop_frame else "NDF"
    for sequence in root.iter("sequence"):
        tc = sequence.find("timecode")
        if tc is not None:
            _relabel(tc, tb, display)
    head = text[: text.index("<xmeml")]  # keep the XML declaration and DOCTYPE as the writer made them
    path.write_text(head + ET.tostring(root, encoding="unicode") + "\n", encoding="utf-8")


def _relabel(tc: ET.Element, tb: TimeBase, display: str) -> None:
    """A ``<timecode>``'s label and string in the dub's DF/NDF (its ``<frame>`` count is kept)."""
    frame_text = tc.findtext("frame")
    if frame_text is None or not frame_text.strip().lstrip("-").isdigit():
        return
    fmt = tc.find("displayformat")
    if fmt is not None:
        fmt.text = display
    string = tc.find("string")
    if string is not None:
        string.text = timecode(int(frame_text), tb.rate, bool(tb.drop_frame))


#: What ``--to otioz``/``otiod`` bundle: audio and video files only (by suffix and by content)
MEDIA_SUFFIXES = {".wav", ".bwf", ".rf64", ".aif", ".aiff", ".aifc", ".caf", ".flac", ".mp3", ".m4a", ".aac",
                  ".ogg", ".opus", ".mov", ".mp4", ".m4v", ".mxf", ".avi", ".mkv", ".webm", ".mts", ".m2ts",
                  ".mpg", ".mpeg", ".3gp", ".qt"}


def is_media_file(path: Path) -> bool:
    """True for a regular file that is audio or video by its suffix and its first bytes."""
    if path.suffix.lower() not in MEDIA_SUFFIXES or not path.is_file():
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return False
    return (head[:4] in (b"RIFF", b"RF64", b"BW64", b"FORM", b"fLaC", b"OggS", b"caff", b"\x1aE\xdf\xa3", b"ID3\x03",
                         b"ID3\x04", b"ID3\x02")
            or head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
            or head[:4] == b"\x06\x0e\x2b\x34"  # MXF
            or head[:4] == b"\x00\x00\x01\xba"  # MPEG program stream
            or head[:1] == b"\x47"  # MPEG transport stream
            or (head[:1] == b"\xff" and len(head) > 1 and head[1] & 0xE0 == 0xE0))  # MPEG audio frame


def _bundle_copy(timeline: otio.schema.Timeline, out_dir: Path) -> otio.schema.Timeline:
    """A copy to bundle: dub media by absolute path, and every local file that is not audio or
    video (a stray reference to /etc/passwd, say) left out as a missing reference."""
    copied = copy.deepcopy(timeline)
    bundled, refused = [], []
    for clip in copied.find_clips():
        ref = clip.media_reference
        url = getattr(ref, "target_url", None)
        if not isinstance(ref, otio.schema.ExternalReference) or not url:
            continue
        path = local_file(url, out_dir)
        if path is None:
            continue  # not a local file: the bundle keeps it as a missing reference
        if is_media_file(path):
            ref.target_url = Path(os.path.abspath(path)).as_uri()
            bundled.append(path.name)
        else:
            missing = otio.schema.MissingReference(name=ref.name, available_range=ref.available_range,
                                                   metadata={"otio_dub": {"not_bundled": url}})
            clip.media_reference = missing
            refused.append(str(path))
    if bundled:
        log.info("bundled %d media file(s): %s", len(set(bundled)), ", ".join(sorted(set(bundled))))
    if refused:
        log.warning("not bundled (not an audio or video file): %s", ", ".join(sorted(set(refused))))
    return copied
