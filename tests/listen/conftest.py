"""Fixtures of the listening tests: scenes of speech with known text (see listen_speech.py)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from listen_speech import Scene, build_scene

TEXTS_A = {
    "c1": [("joe", "The quick brown fox jumps over the lazy dog.")],
    "c2": [("m3", "We will meet at the station tomorrow morning."), ("m3", "Bring your bag and a warm coat.")],
    "c3": [("f4", "I have never seen such a beautiful garden.")],
    "c4": [("joe", "Please close the window before you leave the house.")],
}


@pytest.fixture(scope="session")
def scene_2398(tmp_path_factory) -> Scene:
    """23.976 at 01:00:00:00: joe (marked ANNA on his first clip), espeak m3, espeak f4, joe again."""
    folder = tmp_path_factory.mktemp("scene_2398")
    return build_scene(folder, "scene2398", Fraction(24000, 1001), "01:00:00:00", {"DIA": [
        {"at": 1.0, "say": TEXTS_A["c1"], "marker": "ANNA: " + TEXTS_A["c1"][0][1]},
        {"at": 6.0, "say": TEXTS_A["c2"]},
        {"at": 14.0, "say": TEXTS_A["c3"]},
        {"at": 19.0, "say": TEXTS_A["c4"]},
    ]})


TEXTS_B = {
    "b1": [("joe", "Where did you put the keys to the car?")],
    "b2": [("m3", "They are on the kitchen table, next to the phone.")],
    "b3": [("joe", "Thank you, I will be back in an hour.")],
}


@pytest.fixture(scope="session")
def scene_2997_noisy(tmp_path_factory) -> Scene:
    """29.97 drop-frame at 01:00:00;00, pink noise at 5 dB SNR, .mov media; joe on a track named DIA BOB."""
    folder = tmp_path_factory.mktemp("scene_2997")
    return build_scene(folder, "scene2997", Fraction(30000, 1001), "01:00:00;00", {
        "DIA BOB": [{"at": 0.5, "say": TEXTS_B["b1"]}, {"at": 9.0, "say": TEXTS_B["b3"]}],
        "DX": [{"at": 4.5, "say": TEXTS_B["b2"]}],
    }, noisy=True, drop_frame=True)
