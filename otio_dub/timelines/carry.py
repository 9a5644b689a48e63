"""What a write through OTIO's model cannot carry from the editor's timeline, counted per kind and said once.

A dub written in the input's own format patches the editor's file and loses nothing. Any other
``--to`` regenerates the file from OTIO's model, and each writer drops some kinds of thing: the user
is told how many of each, never silently (``fcpxml: 3 transitions written as cuts``). The table is
checked against each writer by a round trip in tests/test_carry.py.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

import opentimelineio as otio

from ..dialogue.lines import is_dub

log = logging.getLogger("otio_dub")

#: --to format -> kind -> what its writer does with that kind (kinds not named are carried)
LOST: dict[str, dict[str, str]] = {
    "xml": {"effects": "dropped", "track_markers": "dropped (an FCP7 track holds none)", "generators": "written as gaps",
            "nested": "flattened"},
    "fcpxml": {"transitions": "written as cuts", "effects": "dropped", "markers": "dropped", "track_markers": "dropped",
               "generators": "left out", "nested": "flattened"},
    "aaf": {"transitions": "written as cuts", "effects": "dropped", "markers": "left to the .dub.otio",
            "track_markers": "left to the .dub.otio", "generators": "written as filler", "nested": "flattened"},
}
LOST["fcpxmld"] = LOST["fcpxml"]  # the same document, in Final Cut Pro 10.6+'s bundle
#: How each kind is named in a message, by count
_NOUNS = {"transitions": ("transition", "transitions"), "effects": ("effect", "effects"),
          "markers": ("marker", "markers"), "track_markers": ("track marker", "track markers"),
          "generators": ("generator", "generators"),
          "nested": ("nested stack or compound clip", "nested stacks or compound clips")}


def _items(composition: otio.core.Composition) -> Iterator[otio.core.Composable]:
    """Every item under ``composition``, depth first, otio-dub's own dub tracks and clips left out."""
    for child in composition:
        if is_dub(child):
            continue
        yield child
        if isinstance(child, otio.core.Composition):
            yield from _items(child)


def editor_kinds(timeline: otio.schema.Timeline) -> Counter:
    """How many transitions, effects, markers (on the sequence and items; a track's own apart), generators
    and nested compositions the editor's timeline holds (the dub's own tracks, clips and markers are not
    the editor's)."""
    found: Counter = Counter(markers=len(timeline.tracks.markers), effects=len(timeline.tracks.effects))
    for track in timeline.tracks:
        if is_dub(track):
            continue
        found["track_markers"] += len(track.markers)
        found["effects"] += len(track.effects)
        for item in _items(track):
            if isinstance(item, otio.schema.Transition):
                found["transitions"] += 1
                continue
            found["markers"] += len(item.markers)
            found["effects"] += len(item.effects)
            if isinstance(item, otio.core.Composition) and item.parent() is track:  # a compound clip counts once
                found["nested"] += 1
            elif isinstance(item, otio.schema.Clip) and isinstance(item.media_reference, otio.schema.GeneratorReference):
                found["generators"] += 1
    return +found


def losses(timeline: otio.schema.Timeline, fmt: str) -> list[str]:
    """One message per kind of the editor's content that ``fmt``'s writer does not carry."""
    if fmt == "edl":
        return ["edl: the editor's timeline is not rewritten: each dub track is written as an EDL of its own"]
    lost = LOST.get(fmt, {})
    found = editor_kinds(timeline)
    messages = []
    for kind, how in lost.items():
        count = found.get(kind, 0)
        if count:
            noun = _NOUNS[kind][count != 1]
            messages.append(f"{fmt}: {count} {noun} {how}")
    return messages


def report_losses(timeline: otio.schema.Timeline, fmt: str) -> list[str]:
    """Log :func:`losses` as warnings (once per kind) and return them."""
    messages = losses(timeline, fmt)
    for message in messages:
        log.warning("%s", message)
    return messages
