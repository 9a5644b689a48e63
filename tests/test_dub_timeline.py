"""Where dub clips sit: the per-track layout gives exactly OTIO's own transformed_time_range, on the
NLEs' exports and on a timeline with transitions, nested stacks, trimmed tracks and mixed rates."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from otio_dub.timelines.dub_timeline import _TrackLayout
from otio_dub.timelines.timeline_io import read_timeline

NLE = Path(__file__).parent / "data" / "nle"
RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def _clip(name: str, start: float, duration: float, rate: float) -> otio.schema.Clip:
    return otio.schema.Clip(name, source_range=TR(RT(start, rate), RT(duration, rate)))


def _tricky() -> otio.schema.Timeline:
    """Gaps, a transition, a nested stack and track, a track trimmed by a source range, mixed rates."""
    timeline = otio.schema.Timeline("tricky", global_start_time=RT(86400, 24))
    a = otio.schema.Track("A", kind=otio.schema.TrackKind.Audio)
    a.append(otio.schema.Gap(source_range=TR(RT(0, 24), RT(13, 24))))
    a.append(_clip("a1", 7, 48, 24))
    a.append(otio.schema.Transition(in_offset=RT(6, 24), out_offset=RT(6, 24)))
    a.append(_clip("a2", 100, 30000, 48000))
    nested = otio.schema.Stack("nest", source_range=TR(RT(5, 24), RT(40, 24)))
    inner = otio.schema.Track("inner")
    inner.append(otio.schema.Gap(source_range=TR(RT(0, 24), RT(9, 24))))
    inner.append(_clip("n1", 3, 50, 24))
    nested.append(inner)
    a.append(nested)
    a.append(_clip("a3", 11, 1001, 30000 / 1001))
    b = otio.schema.Track("B", kind=otio.schema.TrackKind.Audio, source_range=TR(RT(17, 24), RT(400, 24)))
    for n in range(40):
        b.append(_clip(f"b{n}", n, 5 + n % 7, 24))
        b.append(otio.schema.Gap(source_range=TR(RT(0, 25), RT(3 + n % 4, 25))))
    timeline.tracks.extend([a, b])
    return timeline


def _key(r: otio.opentime.TimeRange) -> tuple[float, float, float, float]:
    return r.start_time.value, r.start_time.rate, r.duration.value, r.duration.rate


@pytest.mark.parametrize("source", ["tricky", *sorted(p.name for p in NLE.iterdir() if p.suffix != ".md")])
def test_the_track_layout_places_every_clip_as_otio_does(source: str) -> None:
    timeline = _tricky() if source == "tricky" else read_timeline(NLE / source)
    clips = 0
    for track in timeline.tracks:
        layout = _TrackLayout(track, timeline.tracks)
        for clip in track.find_clips():
            expected = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
            assert _key(layout.range_of(clip)) == _key(expected), (source, clip.name)
            clips += 1
    assert clips > 0
