"""Makes the regression inputs in this folder (run once; the files are committed).

* ``ndf_2997_1h.xml``: an FCP7 XML (Premiere's dialect) 29.97 NON-drop sequence at 01:00:00:00,
  its media in a folder whose name has a space and accents.
* ``programme_1h.edl``: a CMX3600 EDL whose programme starts at 01:00:00:00 (FCM NON-DROP).
* ``df_2997_1h_programme.edl``: the same at 29.97 drop-frame, timecodes written with ':' (the FCM line decides).
* ``mixed_rates_generator.otio``: a 29.97 DF timeline at 01:00:00;00 whose video and audio media run
  at 23.976 and which holds a colour generator (what stopped OTIO's AAF writer), media paths with
  spaces and accents.
"""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio

HERE = Path(__file__).resolve().parent
R2997 = 30000 / 1001
R23976 = 24000 / 1001
MEDIA = "file:///Volumes/M%C3%A9dia%20Prod/Sc%C3%A8ne%2012/"  # "Média Prod/Scène 12", as Premiere encodes it


def rt(value: float, rate: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(value, rate)


def clip(name: str, url: str, start: float, length: float, rate: float, media_start: float = 0,
         media_length: float = 100000) -> otio.schema.Clip:
    ref = otio.schema.ExternalReference(target_url=url, available_range=otio.opentime.TimeRange(
        rt(media_start, rate), rt(media_length, rate)))
    return otio.schema.Clip(name, ref, otio.opentime.TimeRange(rt(start, rate), rt(length, rate)))


def gap(length: float, rate: float) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(length, rate)))


def ndf_xml() -> None:
    tl = otio.schema.Timeline("Scène 12 NDF", global_start_time=rt(108000, R2997))
    tl.metadata["fcp_xml"] = {"timecode": {"displayformat": "NDF"}}
    video = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    video.append(clip("Plan large.mov", MEDIA + "Plan%20large.mov", 100, 300, R2997, 0, 3000))
    audio = otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio)
    audio.append(clip("Dialogue été.wav", MEDIA + "Dialogue%20%C3%A9t%C3%A9.wav", 100, 300, R2997, 0, 3000))
    tl.tracks.extend([video, audio])
    otio.adapters.write_to_file(tl, str(HERE / "ndf_2997_1h.xml"))


EDL = """TITLE: Scene 12 programme
FCM: {fcm}

001  A001     V     C        00:10:00{s}00 00:10:10{s}00 01:00:00{s}00 01:00:10{s}00
* FROM CLIP NAME: Plan large.mov
002  A002     A     C        00:20:00{s}00 00:20:08{s}00 01:00:01{s}00 01:00:09{s}00
* FROM CLIP NAME: Dialogue ete.wav
003  A001     V     C        00:10:20{s}00 00:10:30{s}00 01:00:10{s}00 01:00:20{s}00
* FROM CLIP NAME: Plan large.mov
"""


def edls() -> None:
    (HERE / "programme_1h.edl").write_text(EDL.format(fcm="NON-DROP FRAME", s=":"), encoding="ascii")
    (HERE / "df_2997_1h_programme.edl").write_text(EDL.format(fcm="DROP FRAME", s=":"), encoding="ascii")


def mixed() -> None:
    tl = otio.schema.Timeline("Mixed rates é", global_start_time=rt(107892, R2997))
    tl.metadata["otio_dub"] = {"drop_frame": True}
    video = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    video.append(clip("Plan 23.976.mov", MEDIA + "Plan%2023.976.mov", 24, 96, R23976, 0, 2400))
    video.append(otio.schema.Clip("Colour matte", otio.schema.GeneratorReference(
        "Colour matte", generator_kind="Color", parameters={"red": 0.1, "green": 0.2, "blue": 0.3},
        available_range=otio.opentime.TimeRange(rt(0, R2997), rt(1000, R2997))),
        otio.opentime.TimeRange(rt(0, R2997), rt(60, R2997))))
    video.append(clip("Plan 23.976.mov", MEDIA + "Plan%2023.976.mov", 200, 72, R23976, 0, 2400))
    audio = otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio)
    audio.append(clip("Dialogue é.wav", MEDIA + "Dialogue%20%C3%A9.wav", 24, 96, R23976, 0, 2400))
    audio.append(gap(60, R2997))
    audio.append(clip("Dialogue é.wav", MEDIA + "Dialogue%20%C3%A9.wav", 200, 72, R23976, 0, 2400))
    tl.tracks.extend([video, audio])
    otio.adapters.write_to_file(tl, str(HERE / "mixed_rates_generator.otio"))


if __name__ == "__main__":
    ndf_xml()
    edls()
    mixed()
