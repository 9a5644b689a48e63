"""OTIO hook ``otio_dub_tag_dialogue`` (post_adapter_read): tag dialogue clips on every OTIO read.

Clips on tracks named like dialogue (DIA, DX, DIALOG, VO, ADR) get ``metadata["otio_dub"]
["dialogue"] = True``; a clip with one ``CHARACTER: text`` marker gets the line itself. Existing
lines are never overwritten. Turn it off with ``OTIO_DUB_TAG_DIALOGUE=0`` or the argument map
``{"otio_dub": {"tag_dialogue": False}}``.
"""

from __future__ import annotations

import os

import opentimelineio as otio

from otio_dub.core.errors import HookError
from otio_dub.dialogue.lines import tag_dialogue

NAME = "otio_dub_tag_dialogue"


def hook_function(in_timeline: otio.core.SerializableObject, argument_map: dict | None = None) -> otio.core.SerializableObject:
    """Tag the dialogue of every timeline read (a collection's timelines too); returns it."""
    config = ((argument_map or {}).get("otio_dub") or {})
    if os.environ.get("OTIO_DUB_TAG_DIALOGUE", "1") == "0" or config.get("tag_dialogue") is False:
        return in_timeline
    if isinstance(in_timeline, otio.schema.Timeline):
        timelines = [in_timeline]
    elif isinstance(in_timeline, otio.schema.SerializableCollection):
        timelines = list(in_timeline.find_children(descended_from_type=otio.schema.Timeline))
    else:
        return in_timeline
    for timeline in timelines:
        if not any(t.kind == otio.schema.TrackKind.Audio for t in timeline.tracks):
            continue
        try:
            tag_dialogue(timeline)
        except Exception as exc:  # never silent: name the hook and the timeline
            raise HookError(NAME, timeline.name, f"{type(exc).__name__}: {exc}") from exc
    return in_timeline
