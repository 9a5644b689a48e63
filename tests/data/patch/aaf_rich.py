"""A richer AAF than the shared Avid exports, made with pyaaf2 for the same-format patch tests.

A 29.97 drop-frame composition starting at 01:00:00;00 with what OTIO's model drops and a patch
must keep: a dissolve (a Transition around an OperationGroup), a video effect (an OperationGroup
wrapping a clip), an audio gain effect, a nested scope (two layers of V2), a timecode slot with
Drop set, the editor's media behind master, file and tape mobs with locators, and a marker (a
DescriptiveMarker in an EventMobSlot) on V1. ``cut`` 2 is a re-cut: A1's dialogue from 30 frames
later (for conform).
"""

from __future__ import annotations

from pathlib import Path

import aaf2

RATE = "30000/1001"
START = 107892  # 01:00:00;00 drop-frame at 29.97
NAME = {1: "Scene 12 cut 1", 2: "Scene 12 cut 2"}
#: the dialogue clips of A1 in ``cut`` 1: (source name, record in, length) in frames; cut 2 moves them +30
DIALOGUE = [("Scene12_Take3.wav", 0, 150), ("Scene12_Take5.wav", 180, 180)]


def _definitions(f: object) -> None:
    """The dissolve, blur and gain operations, as pyaaf2's own transition test registers them."""
    byte_order = f.create.ParameterDef("c0038672-a8cf-11d3-a05b-006094eb75cb", "AvidParameterByteOrder", "", "aafUInt16")
    effect_id = f.create.ParameterDef("93994bd6-a81d-11d3-a05b-006094eb75cb", "AvidEffectID", "", "aafUInt16")
    gain = f.create.ParameterDef("e4962320-2267-11d3-8a4c-0050040ef7d2", "Amplitude multiplier", "", "Rational")
    for definition in (byte_order, effect_id, gain):
        f.dictionary.register_def(definition)
    for auid, name, kind, inputs, params in (
            ("89d9b67e-5584-302d-9abd-8bd330c46841", "VideoDissolve_2", "picture", 2, [byte_order, effect_id]),
            ("0c3bea40-fc05-11d2-8a29-0050040ef7d2", "Blur Effect", "picture", 1, [byte_order, effect_id]),
            ("0c3bea44-fc05-11d2-8a29-0050040ef7d2", "Audio Gain", "sound", 1, [gain])):
        op_def = f.create.OperationDef(auid, name, "")
        f.dictionary.register_def(op_def)
        op_def.media_kind = kind
        op_def["IsTimeWarp"].value = False
        op_def["Bypass"].value = 1
        op_def["NumberInputs"].value = inputs
        op_def["OperationCategory"].value = "OperationCategory_Effect"
        op_def.parameters.extend(params)


def _master(f: object, name: str, kind: str, length: int, tc_start: int) -> object:
    """A MasterMob -> file SourceMob (descriptor with a file locator) -> tape SourceMob (timecode)."""
    tape = f.create.SourceMob(f"{name} tape")
    tape.descriptor = f.create.TapeDescriptor()
    tape.create_tape_slots(f"{name} tape", RATE, 30, drop_frame=True, media_kind=kind, length=tc_start + length)
    f.content.mobs.append(tape)
    file_mob = f.create.SourceMob(name)
    if kind == "picture":
        descriptor = f.create.CDCIDescriptor()
        for key, value in (("ComponentWidth", 8), ("HorizontalSubsampling", 2), ("ImageAspectRatio", "16/9"),
                           ("StoredWidth", 1920), ("StoredHeight", 1080), ("FrameLayout", "FullFrame"),
                           ("VideoLineMap", [42, 0]), ("SampleRate", RATE), ("Length", length)):
            descriptor[key].value = value
    else:
        descriptor = f.create.PCMDescriptor()
        for key, value in (("SampleRate", RATE), ("AudioSamplingRate", 48000), ("Channels", 1),
                           ("QuantizationBits", 24), ("BlockAlign", 3), ("AverageBPS", 144000), ("Length", length)):
            descriptor[key].value = value
    descriptor["ContainerFormat"].value = f.dictionary.lookup_containerdef("AAF")
    locator = f.create.NetworkLocator()
    locator["URLString"].value = f"file:///Volumes/Editorial/Scene12/{name}"
    descriptor["Locator"].append(locator)
    file_mob.descriptor = descriptor
    file_slot = file_mob.create_timeline_slot(RATE)
    file_slot.segment = tape.create_source_clip(slot_id=1, start=tc_start, length=length, media_kind=kind)
    f.content.mobs.append(file_mob)
    master = f.create.MasterMob(name)
    master.comments["UNC Path"] = f"/Volumes/Editorial/Scene12/{name}"
    slot = master.create_timeline_slot(RATE)
    slot.segment = file_mob.create_source_clip(slot_id=1, start=0, length=length, media_kind=kind)
    f.content.mobs.append(master)
    return master


def _clip(master: object, start: int, length: int, kind: str) -> object:
    return master.create_source_clip(slot_id=1, start=start, length=length, media_kind=kind)


def _slot(comp: object, slot_id: int, name: str, number: int, segment: object) -> object:
    slot = comp.create_timeline_slot(RATE, slot_id=slot_id)
    slot.name = name
    slot["PhysicalTrackNumber"].value = number
    slot.segment = segment
    return slot


def _sequence(f: object, kind: str, components: list) -> object:
    sequence = f.create.Sequence(media_kind=kind)
    for component in components:
        sequence.components.append(component)
    sequence.length = sum(-c.length if isinstance(c, aaf2.components.Transition) else c.length for c in components)
    return sequence


def _dissolve(f: object, length: int) -> object:
    transition = f.create.Transition("picture")
    transition.length = length
    transition["CutPoint"].value = length // 2
    group = f.create.OperationGroup("VideoDissolve_2", length=length, media_kind="picture")
    transition["OperationGroup"].value = group
    return transition


def _effect(f: object, name: str, kind: str, inputs: list, **parameters: object) -> object:
    group = f.create.OperationGroup(name, length=inputs[0].length, media_kind=kind)
    for segment in inputs:
        group.segments.append(segment)
    for key, value in parameters.items():
        group.parameters.append(f.create.ConstantValue(key, value))
    return group


def _video(f: object, shots: dict, total: int) -> tuple[object, object]:
    """V1: shot A, a 20-frame dissolve to shot B, shot C under a blur; V2: a nested scope of two layers."""
    a, b, c = shots["Scene12_A.mov"], shots["Scene12_B.mov"], shots["Scene12_C.mov"]
    blur = _effect(f, "Blur Effect", "picture", [_clip(c, 40, 120, "picture")])
    v1 = _sequence(f, "picture", [_clip(a, 10, 200, "picture"), _dissolve(f, 20), _clip(b, 0, 220, "picture"), blur,
                                   f.create.Filler("picture", total - 520)])
    scope = f.create.NestedScope()
    scope.length = 90
    for layer in (_clip(b, 300, 90, "picture"), _clip(c, 200, 90, "picture")):
        scope.slots.append(_sequence(f, "picture", [layer]))
    v2 = _sequence(f, "picture", [f.create.Filler("picture", 100), scope, f.create.Filler("picture", total - 190)])
    return v1, v2


def _audio(f: object, voices: dict, music: object, total: int, shift: int) -> tuple[object, object]:
    """A1: the dialogue clips (``shift`` frames later in a re-cut); A2: music under a gain effect."""
    parts, at = [], 0
    for name, record_in, length in DIALOGUE:
        if record_in + shift > at:
            parts.append(f.create.Filler("sound", record_in + shift - at))
        parts.append(_clip(voices[name], 0, length, "sound"))
        at = record_in + shift + length
    parts.append(f.create.Filler("sound", total - at))
    gain = _effect(f, "Audio Gain", "sound", [_clip(music, 0, total, "sound")], **{"Amplitude multiplier": "1/2"})
    return _sequence(f, "sound", parts), _sequence(f, "sound", [gain])


def _marker(f: object, comp: object, slot_id: int) -> None:
    """A red marker on V1 (slot 2, track 1), as Media Composer writes its locators."""
    event_slot = f.create.EventMobSlot()
    event_slot["SlotID"].value = slot_id
    event_slot["EditRate"].value = RATE
    event_slot["PhysicalTrackNumber"].value = 1
    marker = f.create.DescriptiveMarker()
    marker["Position"].value = 60
    marker["Comment"].value = "check the eyeline"
    marker["CommentMarkerUser"].value = "editor"
    marker["CommentMarkerColor"].value = {"red": 65535, "green": 0, "blue": 0}
    marker["DescribedSlots"].value = {2}
    marker.media_kind = "DescriptiveMetadata"
    sequence = f.create.Sequence(media_kind="DescriptiveMetadata")
    sequence.components.append(marker)
    event_slot.segment = sequence
    comp.slots.append(event_slot)


def make_aaf(path: Path, cut: int = 1) -> Path:
    """Write the composition (``cut`` 1, or its re-cut 2) at ``path``."""
    shift = 0 if cut == 1 else 30
    total = 600
    with aaf2.open(str(path), "w") as f:
        _definitions(f)
        shots = {n: _master(f, n, "picture", 1000, START) for n in ("Scene12_A.mov", "Scene12_B.mov", "Scene12_C.mov")}
        voices = {n: _master(f, n, "sound", 400, START + 300) for n, _, _ in DIALOGUE}
        music = _master(f, "Score_cue3.wav", "sound", 900, 0)
        comp = f.create.CompositionMob(NAME[cut])
        comp.usage = "Usage_TopLevel"
        f.content.mobs.append(comp)
        timecode = f.create.Timecode(30, drop=True, length=total)
        timecode.start = START
        _slot(comp, 1, "TC1", 1, timecode)
        v1, v2 = _video(f, shots, total)
        _slot(comp, 2, "V1", 1, v1)
        _slot(comp, 3, "V2", 2, v2)
        a1, a2 = _audio(f, voices, music, total, shift)
        _slot(comp, 4, "A1", 1, a1)
        _slot(comp, 5, "A2", 2, a2)
        _marker(f, comp, 6)
    return path
