"""An OTIO input comes back whole (issue 24, item 5): the dub's .otio/.otioz holds the editor's tracks,
clips, transitions, effects, markers and metadata exactly as they were serialized, compared as JSON
documents, not through our reader. Two things change by design and are checked as such: a relative
media URL becomes the absolute file URL of the same file (the dub lives in another folder), and the
timeline's metadata gains otio-dub's own key."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from test_carry import RATE, RT, TR, editors_timeline

from otio_dub import DubOptions, dub
from otio_dub.dialogue.lines import METADATA_KEY


def _with_dialogue(folder: Path) -> otio.schema.Timeline:
    """The editor's timeline of test_carry, without its dub track, plus two dialogue clips with text,
    relative media, clip metadata of the editor's own, and a marker on a dialogue clip."""
    timeline = editors_timeline()
    del timeline.tracks[-1]  # the editor's file has no dub yet
    (folder / "media").mkdir()
    sf.write(folder / "media" / "dia.wav", np.zeros(48000 * 40, np.float32), 48000, subtype="PCM_24")
    track = otio.schema.Track("DIA", kind=otio.schema.TrackKind.Audio, metadata={"editor": {"locked": True}})
    for n, text in enumerate(("Hello there.", "See you tomorrow."), 1):
        ref = otio.schema.ExternalReference("media/dia.wav", available_range=TR(RT(0, RATE), RT(1000, RATE)))
        clip = otio.schema.Clip(f"dia_{n}", media_reference=ref, source_range=TR(RT(40 * n, RATE), RT(40, RATE)),
                                metadata={METADATA_KEY: {"text": text, "character": "ANNA"}, "avid": {"tape": "A001"}})
        track.extend([otio.schema.Gap(source_range=TR(duration=RT(20, RATE))), clip])
    track[1].markers.append(otio.schema.Marker("breath", TR(RT(45, RATE), RT(1, RATE)), metadata={"x": 1}))
    timeline.tracks.append(track)
    timeline.metadata["editor"] = {"project": "Feature", "reel": 2}
    return timeline


def _without_dub(document: dict) -> dict:
    document = json.loads(json.dumps(document))
    document["tracks"]["children"] = [t for t in document["tracks"]["children"]
                                      if (t.get("metadata", {}).get(METADATA_KEY) or {}).get("role") != "dub"]
    return document


def _urls_resolved(document: object, base: Path) -> object:
    """``document`` with every relative target_url made the absolute file URL it names from ``base``."""
    if isinstance(document, dict):
        out = {k: _urls_resolved(v, base) for k, v in document.items()}
        url = out.get("target_url")
        if isinstance(url, str) and "://" not in url:
            out["target_url"] = (base / url).resolve().as_uri()
        return out
    if isinstance(document, list):
        return [_urls_resolved(v, base) for v in document]
    return document


@pytest.mark.parametrize("suffix", [".otio", ".otioz"])
def test_an_otio_input_comes_back_whole(tmp_path, suffix):
    timeline = _with_dialogue(tmp_path)
    source = tmp_path / f"cut{suffix}"
    if suffix == ".otio":
        otio.adapters.write_to_file(timeline, str(source))
    else:
        otio.adapters.write_to_file(timeline, str(source), media_policy="MissingIfNotFile")
    before = source.read_bytes()
    dub(source, None, tmp_path / "out", DubOptions(cache=tmp_path / "cache"))
    assert source.read_bytes() == before
    if suffix == ".otio":
        given = json.loads(before)
        written = json.loads((tmp_path / "out" / "cut.dub.otio").read_text(encoding="utf-8"))
        given = _urls_resolved(given, tmp_path)
    else:
        with zipfile.ZipFile(source) as z:
            given = json.loads(z.read("content.otio"))
        with zipfile.ZipFile(tmp_path / "out" / "cut.dub.otioz") as z:
            written = json.loads(z.read("content.otio"))
    written = _without_dub(written)
    meta = written["metadata"].pop(METADATA_KEY)
    assert set(meta) <= {"drop_frame"}
    if suffix == ".otioz":  # the bundle relinks media inside itself: compare all but where each file is
        given, written = _strip_urls(given), _strip_urls(written)
    assert written == given


def _strip_urls(document: object) -> object:
    if isinstance(document, dict):
        return {k: _strip_urls(v) for k, v in document.items() if k != "target_url"}
    if isinstance(document, list):
        return [_strip_urls(v) for v in document]
    return document


def test_the_dub_tracks_are_added_after_the_editors(tmp_path):
    timeline = _with_dialogue(tmp_path)
    otio.adapters.write_to_file(timeline, str(tmp_path / "cut.otio"))
    dub(tmp_path / "cut.otio", None, tmp_path / "out", DubOptions(cache=tmp_path / "cache"))
    written = otio.adapters.read_from_file(str(tmp_path / "out" / "cut.dub.otio"))
    names = [t.name for t in written.tracks]
    assert names[:3] == ["V1", "A1", "DIA"] and names[3:] == ["DUB en ANNA"]
    (clip_a, clip_b) = written.tracks[3].find_clips()
    assert [c.range_in_parent().start_time.value for c in (clip_a, clip_b)] == [20, 80]
    for clip in (clip_a, clip_b):
        url = clip.media_reference.target_url  # relative to the dub's folder, as the .dub.otio keeps it
        path = Path(unquote(urlparse(url).path)) if "://" in url else tmp_path / "out" / url
        assert path.is_file() and path.parent == tmp_path / "out" / "media"
