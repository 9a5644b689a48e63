"""Regenerate samples/scene.otio: the demo edit the README's first command dubs.

A 23.976 fps scene starting at 01:00:00:00: a picture track of three shots and a dialogue track
(DIA) of original-language clips lying under the lines of samples/scene.ass.
"""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio

RATE = 24000 / 1001
START = 86400  # 01:00:00:00 at 23.976 (non-drop)
#: (name, record in, record out) in frames from the start, one per line of scene.ass
DIALOGUE = [
    ("sc01_dia_001", 24, 84), ("sc01_dia_002", 96, 168), ("sc01_dia_003", 180, 264), ("sc01_dia_004", 276, 312),
    ("sc01_dia_005", 324, 432), ("sc01_dia_006", 444, 516), ("sc01_dia_007", 527, 611), ("sc01_dia_008", 623, 671),
    ("sc01_dia_009", 695, 767), ("sc01_dia_010", 791, 887),
]
SHOTS = [("sc01_sh010", 0, 312), ("sc01_sh020", 312, 611), ("sc01_sh030", 611, 959)]


def _rt(frames: int) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(frames, RATE)


def _clip(name: str, source_in: int, length: int, url: str) -> otio.schema.Clip:
    ref = otio.schema.ExternalReference(target_url=url, available_range=otio.opentime.TimeRange(_rt(START), _rt(2000)))
    return otio.schema.Clip(name, media_reference=ref, source_range=otio.opentime.TimeRange(_rt(START + source_in), _rt(length)))


def build() -> otio.schema.Timeline:
    """The demo scene as an OTIO timeline."""
    timeline = otio.schema.Timeline("scene", global_start_time=_rt(START))
    picture = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    for name, rin, rout in SHOTS:
        picture.append(_clip(name, rin, rout - rin, f"media/{name}.mov"))
    dialogue = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio)
    cursor = 0
    for name, rin, rout in DIALOGUE:
        if rin > cursor:
            dialogue.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=_rt(rin - cursor))))
        dialogue.append(_clip(name, rin, rout - rin, f"media/{name}_fr.wav"))
        cursor = rout
    timeline.tracks.extend([picture, dialogue])
    return timeline


if __name__ == "__main__":
    otio.adapters.write_to_file(build(), str(Path(__file__).with_name("scene.otio")))
