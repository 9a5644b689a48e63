"""Deliver: the placed lines as files — line media with their loudness gains, stems, the dub timeline
in each format, report.json — all into the output transaction's staging folder.

Nothing here touches the output folder itself: :class:`~otio_dub.delivery.outdir.OutputFolder` swaps the
staging folder in once every file is written, so a failure leaves the previous dub as it was.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import opentimelineio as otio

from ..audio.bwf import Placement, bwf_size, finish_line, write_text_atomic
from ..core.errors import DamagedTake, OutputError
from ..core.hashing import make_key
from ..core.timebase import SAMPLE_RATE
from ..core.version import __version__
from ..delivery.stem_reuse import STEMS_VERSION, link_into
from ..delivery.stems import LoudnessPlan, StemsResult, dub_stems, plan_loudness, restem
from ..engines import get_engine
from ..store.cache import RenderCache
from ..timelines.apply import add_dub_tracks, track_name
from ..timelines.dub_timeline import line_description
from ..timelines.formats import write_timeline
from .place import PlacedLine, summarize
from .plan import DubPlan

log = logging.getLogger("otio_dub")

#: a hook run on the dub timeline before it is written (conform carries the editor's hand edits with it)
Adjust = Callable[[otio.schema.Timeline], None]
#: the note an unchanged re-dub is recognised by (stages.unchanged), written once the dub is in place
STATE = ".otio-dub-state.json"
#: top-level names a dub may write besides the timelines (the manifest lists them even when absent)
KNOWN_ENTRIES = ("media", "stems", "report.json", "review.html", "review", "subtitles", "conform.json", STATE)
COMPACT_JSON_LINES = 5000  # past this many clips the .dub.otio is written without indentation


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
    entries: list[str] = field(default_factory=list)  # top-level names written into the output folder


def deliver(plan: DubPlan, placed: list[PlacedLine], staging: Path, adjust: Adjust | None = None) -> DubResult:
    """Write the whole dub into ``staging`` (laid out as the output folder will be)."""
    tb, options = plan.tb, plan.options
    stem_options = options.stems if options.stems.jobs is not None else replace(options.stems, jobs=options.jobs)
    _warn_past_end(plan, placed)
    spooled = [(p.clip.line.lang, p.clip.line.character,
                Placement(_spooled(p), tb.sample_at(p.clip.line.record_in), _length(plan, p),
                          identity=p.rendered.identity)) for p in placed]
    try:
        loud = plan_loudness(spooled, plan.total_samples, stem_options, previous=plan.out) \
            if stem_options.loudness is not None else None  # an unchanged dub's plan is read back, not measured
        media = _deliver_media(plan, placed, staging, loud)
    except DamagedTake as exc:
        raise _forgotten(plan, placed, exc) from None
    clips, rows = [p.clip for p in placed], [p.row for p in placed]
    if loud:
        clips = [replace(dc, gain_db=loud.gains_db[(dc.line.lang, dc.line.character)]) for dc in clips]
        for row in rows:
            row["gain_db"] = round(loud.gains_db[(row["lang"], row["character"])], 2)
    dubbed = add_dub_tracks(plan.source, clips, tb)
    if adjust is not None:
        adjust(dubbed)
        stems = restem(dubbed, staging / "stems", stem_options, base_dir=staging)
    else:
        stems = dub_stems(staging, [(lang, c, replace(pl, path=staging / p.clip.media_url, identity=key))
                                    for (lang, c, pl), p, key in zip(spooled, placed, media, strict=True)],
                          plan.total_samples, tb.start_sample, plan.name,
                          stem_options, loud, plan.mix, previous=plan.out)  # unchanged stems are linked
    return _write_timelines_and_report(plan, placed, staging, dubbed, rows, stems)


def _deliver_media(plan: DubPlan, placed: list[PlacedLine], staging: Path, loud: LoudnessPlan | None) -> list[str]:
    """Each line's media as 24-bit BWF with its character's gain baked in (so the NLE hears the
    stems' level); each one's key ("" where its take has none), also in its report row.

    A file the previous dub in the output folder made from the same key (take, gain, place,
    description, length) and that is still whole is linked, not written again.
    """
    tb = plan.tb
    previous = _previous_media(plan.out)
    (staging / "media").mkdir(exist_ok=True)
    keys = []
    for p in placed:
        line = p.clip.line
        gain = loud.linear((line.lang, line.character)) if loud else 1.0
        where, length = tb.start_sample + tb.sample_at(line.record_in), _length(plan, p)
        description = line_description(line.character, line.lang, line.text)
        key = make_key(kind="line-media", version=STEMS_VERSION, take=p.rendered.identity, gain=gain,
                       time_reference=where, description=description, length=length) if p.rendered.identity else ""
        old = plan.out / p.clip.media_url
        if key and previous.get(p.clip.media_url) == key and _whole(old, length):
            link_into(old, staging / p.clip.media_url, fresh=True)
        else:
            finish_line(_spooled(p), staging / p.clip.media_url, gain, where, description, length)
        _spooled(p).unlink()
        if key:
            p.row["media_key"] = key
        keys.append(key)
    return keys


def _forgotten(plan: DubPlan, placed: list[PlacedLine], exc: DamagedTake) -> OutputError:
    """A cached take found damaged where it was read: forget it, so the next run speaks it anew."""
    line = next((p for p in placed if p.rendered.spooled == exc.path), None)
    if line is None or not line.rendered.identity or not plan.options.cache:
        return OutputError(str(exc))
    cache = RenderCache(plan.options.cache)
    try:
        cache.forget(line.rendered.identity)
    finally:
        cache.close()
    return OutputError(f"{line.line_id}: its take in the render cache {cache.folder} was damaged ({exc.why}) and is "
                       "forgotten; run the dub again to speak it anew")


def _previous_media(out: Path) -> dict[str, str]:
    """Media file -> key, from the report of the dub already in ``out`` ({} when there is none)."""
    try:
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        return {row["media"]: row["media_key"] for row in report["lines"]
                if isinstance(row.get("media"), str) and isinstance(row.get("media_key"), str)}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _whole(path: Path, length: int) -> bool:
    """A regular file of exactly the size our BWF of ``length`` samples has (else it is written again)."""
    try:
        return path.is_file() and not path.is_symlink() and path.stat().st_size == bwf_size(length)
    except OSError:
        return False


def _spooled(p: PlacedLine) -> Path:
    """The line's take as render spooled it (a dub is delivered from spooled takes only)."""
    assert p.rendered.spooled is not None
    return p.rendered.spooled


def _length(plan: DubPlan, p: PlacedLine) -> int:
    return plan.tb.samples_between(p.clip.line.record_in, p.end_frame)


def _warn_past_end(plan: DubPlan, placed: list[PlacedLine]) -> None:
    for p in placed:
        if p.end_frame > plan.total_frames:
            log.warning("%s runs to %s, past the timeline end %s: the stems cut it there",
                        p.line_id, plan.tb.tc(p.end_frame), plan.tb.tc(plan.total_frames))


def _write_timelines_and_report(plan: DubPlan, placed: list[PlacedLine], staging: Path, dubbed: otio.schema.Timeline,
                                rows: list[dict], stems: StemsResult) -> DubResult:
    tb, name = plan.tb, plan.name
    indent = 4 if len(rows) <= COMPACT_JSON_LINES else -1  # a feature's timeline stays a sane size
    timeline_path = write_text_atomic(staging / f"{name}.dub.otio", otio.adapters.write_to_string(dubbed, "otio_json", indent=indent))
    exports = write_timeline(dubbed, staging, name, plan.fmt, tb, aaf_embed=plan.options.aaf_embed,
                             link_dir=plan.out, source=plan.source_file) if plan.fmt != "otio" else []
    if plan.options.subtitles:
        from ..listen.subtitles import write_dub_subtitles

        write_dub_subtitles(rows, tb, staging, plan.options.subtitles, media_dir=staging / "media")
    if plan.options.review:
        from ..review.originals import extract_originals

        extract_originals(plan.source, tb, plan.lines, plan.base, staging / "review" / "orig")
    summary = summarize(rows)
    entries = sorted({path.name for path in staging.iterdir() if not path.name.startswith(".")} | set(KNOWN_ENTRIES))
    stem_report = stems.report(staging)
    report = {
        "otio_dub": __version__, "timeline": name, "rate": str(tb.rate), "start": tb.tc(0),
        "drop_frame": bool(tb.drop_frame),
        "duration_frames": plan.total_frames, "duration_samples": plan.total_samples, "sample_rate": SAMPLE_RATE,
        "engines": {e: get_engine(e).info.version for e in sorted({p.engine for p in plan.performers.values()})},
        "policy": asdict(plan.policy), "summary": summary,
        "tracks": sorted({track_name(line.lang, line.character) for line in plan.lines}),
        "stems": stem_report,
        "lines": rows,
        "entries": entries,  # what this dub owns in its folder: the next run replaces these, keeps the rest
    }
    report_path = write_text_atomic(staging / "report.json", report_text(report))
    if plan.options.review:
        from ..review.page import write_review

        write_review(staging)
    takes: dict[str, int] = {}
    for p in placed:  # not in the report: a warm re-run writes identical files
        takes[p.rendered.source] = takes.get(p.rendered.source, 0) + 1
    voices = {f"{c} ({lang})": p.label() for (c, lang), p in plan.performers.items()}
    return DubResult(dubbed, staging, timeline_path, exports, stems.paths(), report_path, rows, summary, voices,
                     takes, stem_report, entries)


def moved(result: DubResult, out: Path) -> DubResult:
    """The result with every path moved from the staging folder to the output folder."""
    staging = result.out_dir

    def at(path: Path) -> Path:
        return out / Path(path).relative_to(staging)

    return replace(result, out_dir=out, timeline_path=at(result.timeline_path), exports=[at(p) for p in result.exports],
                   stems={k: at(v) for k, v in result.stems.items()}, report_path=at(result.report_path))


def report_text(report: dict) -> str:
    """``report`` as JSON, indented, with each of its ``lines`` on one line of its own (a feature's
    1,200 rows stay readable and greppable, and are written by json's C encoder: indenting them all
    went through its Python one, a tenth of a second)."""
    rows = report.get("lines")
    if not isinstance(rows, list) or not rows:
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    marker = "\u0000lines\u0000"
    text = json.dumps({**report, "lines": marker}, indent=2, ensure_ascii=False)
    body = ",\n".join("    " + json.dumps(row, ensure_ascii=False) for row in rows)
    return text.replace(json.dumps(marker), "[\n" + body + "\n  ]", 1) + "\n"
