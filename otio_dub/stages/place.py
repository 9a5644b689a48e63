"""Place: fitted takes onto the record timeline — clip lengths, markers' notes, report rows. Pure.

Nothing is written here; deliver turns the placed lines into files and dub tracks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..core.errors import FitError
from ..core.timebase import SAMPLE_RATE
from ..speech import fit
from ..timelines.apply import DubClip
from .plan import DubPlan, clip_extent
from .render import Rendered


@dataclass
class PlacedLine:
    """One line laid on the record timeline: its dub clip and report row (its media were spooled by render)."""

    rendered: Rendered
    end_frame: int
    clip: DubClip
    row: dict

    @property
    def line_id(self) -> str:
        """The line's id (its media file's name)."""
        return self.clip.line.id


def place_lines(plan: DubPlan, rendered: list[Rendered]) -> list[PlacedLine]:
    """Lay every take at its line's record-in; refuse overruns when the policy says ``error``."""
    placed = [_place(plan, r) for r in rendered]
    overruns = [p.row for p in placed if p.row["status"] == "overrun"]
    if overruns and plan.policy.overflow == "error":
        listed = "; ".join(f"{r['id']} at {r['record_in']} {r['note']}" for r in overruns)
        raise FitError(f"{len(overruns)} line(s) do not fit: {listed}", [r["id"] for r in overruns])
    return placed


def _place(plan: DubPlan, r: Rendered) -> PlacedLine:
    tb, line, fitted = plan.tb, r.job.line, r.fitted
    end_frame, _ = clip_extent(tb, line, fitted.plan.media_samples)
    note = ""
    if fitted.plan.status == "overrun":
        note = fit.overrun_hint(fitted.plan.needed_speed, plan.policy.max_speedup, line.text)
    elif fitted.plan.status == "borrowed":
        note = f"borrows {fitted.plan.borrowed / 48:.0f} ms after the line"
    media_url = f"media/{line.id}.wav"
    performer = r.job.performer
    row = {
        "id": line.id, "character": line.character, "lang": line.lang, "text": line.text,
        "source": line.source, "origin": line.origin,
        "record_in": tb.tc(line.record_in), "record_out": tb.tc(line.record_out),
        "clip_out": tb.tc(end_frame), "target_s": round(r.job.window.samples / SAMPLE_RATE, 4),
        **fitted.report, "status": fitted.plan.status, "note": note,
        "media": media_url, "engine": performer.engine, "voice": performer.spec.voice or performer.spec.lang,
        "emotion": r.job.how.emotion,
        # the character's voice as cast (before the line's emotion): what `otio-dub studio` speaks the line with again
        "performer": {"spec": _json_plain(asdict(performer.spec)), "rate": performer.rate,
                      "semitones": performer.semitones, "gain_db": performer.gain_db},
        "guide": line.id in plan.guides if plan.policy.align == "guide" else None, "key": r.job.job.key,
    }
    clip = DubClip(line, end_frame, media_url, fitted.plan.status, note, fitted.report, key=r.job.job.key)
    return PlacedLine(r, end_frame, clip, row)


def summarize(rows: list[dict]) -> dict[str, int]:
    """Line counts by status (fit lines end within one frame of their window)."""
    summary = {"lines": len(rows), "fit": 0, "padded": 0, "borrowed": 0, "overrun": 0}
    for row in rows:
        summary[row["status"]] = summary.get(row["status"], 0) + 1
    return summary


def _json_plain(value: object) -> object:
    """``value`` as report.json gives it back (tuples as lists), so a dub's result equals its report read
    from disk (an unchanged re-dub returns the latter)."""
    if isinstance(value, dict):
        return {k: _json_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_plain(v) for v in value]
    return value
