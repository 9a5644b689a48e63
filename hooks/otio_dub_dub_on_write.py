"""OTIO hook ``otio_dub_dub_on_write`` (pre_adapter_write): dub a timeline as it is written.

Opt-in, for pipelines that already call ``otio.adapters.write_to_file``::

    otio.adapters.write_to_file(timeline, "cut.xml", hook_function_argument_map={"otio_dub": {
        "dub": True, "script": "cut.ass", "cast": "cast.toml", "out_dir": "cut_dub"}})

Keys other than ``dub``, ``script`` and ``out_dir`` are DubOptions fields (``lang``, ``engine``,
``cast``, ...) or FitPolicy fields (``max_speedup``, ``overflow``, ``align``, ...). The file
written gets the dub tracks (media by absolute path); media, stems and report go to ``out_dir``
(default: ``<file name>_dub`` beside the file).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import opentimelineio as otio

from otio_dub.core.errors import HookError, OtioDubError
from otio_dub.speech.fit import FitPolicy
from otio_dub.stages.pipeline import DubOptions, dub
from otio_dub.timelines.formats import absolute_media

NAME = "otio_dub_dub_on_write"
_OPTION_FIELDS = {f.name for f in dataclasses.fields(DubOptions)} - {"policy"}
_POLICY_FIELDS = {f.name for f in dataclasses.fields(FitPolicy)}


def hook_function(in_timeline: otio.core.SerializableObject, argument_map: dict | None = None) -> otio.core.SerializableObject:
    """Return the timeline with its dub tracks when the argument map asks for a dub, else as it is."""
    argument_map = argument_map or {}
    config = dict(argument_map.get("otio_dub") or {})
    if not config.pop("dub", False) or not isinstance(in_timeline, otio.schema.Timeline):
        return in_timeline
    name = in_timeline.name or "timeline"
    unknown = set(config) - _OPTION_FIELDS - _POLICY_FIELDS - {"script", "out_dir"}
    if unknown:
        raise HookError(NAME, name, f"unknown setting(s) {', '.join(sorted(unknown))}")
    target = Path(argument_map.get("_filepath") or f"{name}.otio")
    out_dir = Path(config.pop("out_dir", None) or target.with_name(f"{target.stem}_dub"))
    script = config.pop("script", None)
    try:
        policy = FitPolicy(**{k: config.pop(k) for k in list(config) if k in _POLICY_FIELDS})
        result = dub(in_timeline, script=script, out_dir=out_dir, options=DubOptions(policy=policy, **config))
    except (OtioDubError, ValueError, TypeError, otio.exceptions.OTIOError) as exc:
        raise HookError(NAME, name, str(exc)) from exc
    return absolute_media(result.timeline, out_dir)
