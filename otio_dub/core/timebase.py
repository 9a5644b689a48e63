"""Pure time maths: frames <-> 48 kHz sample indices <-> timecode, with exact rationals.

Placement never uses float seconds. A position is the integer sample index of an absolute frame
number (frames since midnight), ``round(frame * 48000 / rate)`` computed with ``Fraction``, so a
29.97 timeline places frame 107,892 at exactly the sample an NLE does, two hours in or not.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import opentimelineio as otio

SAMPLE_RATE = 48000

#: Nominal rates whose real rate is ``n * 1000 / 1001`` (NTSC family).
_NTSC_NOMINAL = (24, 30, 48, 60, 120)


def exact_rate(rate: float | Fraction | int) -> Fraction:
    """The exact frame rate for a float rate from OTIO (23.976... -> 24000/1001, 25.0 -> 25)."""
    if isinstance(rate, Fraction):
        return rate
    value = float(rate)
    if value <= 0:
        raise ValueError(f"frame rate must be positive, got {rate!r}")
    for nominal in _NTSC_NOMINAL:
        ntsc = Fraction(nominal * 1000, 1001)
        if abs(value - float(ntsc)) < 5e-3:  # 23.976..., 23.976 and 23.98 alike
            return ntsc
    if abs(value - round(value)) < 1e-6:
        return Fraction(round(value))
    return Fraction(value).limit_denominator(1001)


def _round_half_up(x: Fraction) -> int:
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def frame_to_sample(frame: int, rate: Fraction, sample_rate: int = SAMPLE_RATE) -> int:
    """Sample index of the first sample of absolute ``frame`` (exact, no running sums).

    ``frame * sample_rate / rate`` rounded half up, in integers (no Fraction per call: a feature's
    plan asks this some ten thousand times)."""
    num, den = rate.numerator, rate.denominator
    return (2 * frame * sample_rate * den + num) // (2 * num)


def sample_to_frame_ceil(sample: int, rate: Fraction, sample_rate: int = SAMPLE_RATE) -> int:
    """The first absolute frame whose first sample is at or after ``sample``."""
    frame = (Fraction(sample) * rate / sample_rate).__ceil__()
    while frame > 0 and frame_to_sample(frame - 1, rate, sample_rate) >= sample:
        frame -= 1
    while frame_to_sample(frame, rate, sample_rate) < sample:
        frame += 1
    return frame


def frames_of(time: otio.opentime.RationalTime, rate: Fraction) -> int:
    """A RationalTime as the nearest whole frame at ``rate`` (OTIO values may be floats)."""
    value, own = time.value, _exact_rate_of(time.rate)
    if own == rate and value.is_integer():  # a whole frame at the timeline's own rate: most clips
        return int(value)
    return _round_half_up(Fraction(value) * rate / own)


@functools.lru_cache(maxsize=64)
def _exact_rate_of(rate: float) -> Fraction:
    """:func:`exact_rate` of an OTIO rate, once per rate (a feature asks it for every clip edge)."""
    return exact_rate(rate)


def is_drop_frame_rate(rate: Fraction) -> bool:
    """29.97 and 59.94 are shown drop-frame by convention (OTIO's InferFromRate)."""
    return rate in (Fraction(30000, 1001), Fraction(60000, 1001))


def drop_frame_in(metadata: Mapping) -> bool | None:
    """DF/NDF as a timeline's metadata states it, or None when it says nothing.

    Read in order: otio-dub's own label (``otio_dub.drop_frame``: set from AAF timecode ``Drop``,
    EDL ``FCM`` and FCPXML ``tcFormat`` when read, and kept in the ``.dub.otio``), then FCP7 XML's
    sequence ``timecode/displayformat``.
    """
    ours = metadata.get("otio_dub")
    if isinstance(ours, Mapping) and isinstance(ours.get("drop_frame"), bool):
        return ours["drop_frame"]
    fcp = metadata.get("fcp_xml")
    timecode_meta = fcp.get("timecode") if isinstance(fcp, Mapping) else None
    display = timecode_meta.get("displayformat") if isinstance(timecode_meta, Mapping) else None
    if isinstance(display, str) and display.strip().upper() in ("DF", "NDF"):
        return display.strip().upper() == "DF"
    return None


def timecode(frame: int, rate: Fraction, drop_frame: bool | None = None) -> str:
    """SMPTE timecode of an absolute frame (drop-frame uses ';' before the frames)."""
    df = is_drop_frame_rate(rate) if drop_frame is None else drop_frame
    return otio.opentime.to_timecode(otio.opentime.RationalTime(frame, float(rate)), float(rate), df)


def parse_timecode(text: str, rate: Fraction) -> int:
    """Absolute frame of a timecode 'HH:MM:SS:FF' (or 'HH:MM:SS;FF' drop-frame). Raises ValueError."""
    value = text.strip()
    parts = value.replace(";", ":").split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a timecode: {text!r} (expected HH:MM:SS:FF)")
    nominal = round(float(rate))
    if int(parts[3]) >= nominal or int(parts[2]) >= 60 or int(parts[1]) >= 60:
        raise ValueError(f"not a valid timecode at {float(rate):g} fps: {text!r}")
    if ";" in value and is_drop_frame_rate(rate):
        dropped = 2 * round(float(rate) / 30)  # labels ;00 and ;01 (;00-;03 at 59.94) skipped each minute
        if int(parts[2]) == 0 and int(parts[1]) % 10 and int(parts[3]) < dropped:
            raise ValueError(f"{text!r} does not exist in drop-frame timecode (skipped label)")
    try:
        rt = otio.opentime.from_timecode(value, float(rate))
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"not a valid timecode at {float(rate):g} fps: {text!r} ({exc})") from None
    return _round_half_up(Fraction(rt.value))


@dataclass(frozen=True)
class TimeBase:
    """A timeline's clock: its exact rate, the absolute frame of its start, and TC display style."""

    rate: Fraction
    start_frame: int = 0
    #: how timecodes are labelled (None: by the rate); not part of equality, since two clocks with the
    #: same rate and start place every frame and sample alike
    drop_frame: bool | None = field(default=None, compare=False)

    @property
    def start_sample(self) -> int:
        """Absolute sample (since midnight) of the timeline's first frame: the stems' bext time."""
        return frame_to_sample(self.start_frame, self.rate)

    def sample_at(self, frame: int) -> int:
        """Sample index, relative to the timeline start, of the first sample of relative ``frame``."""
        return frame_to_sample(self.start_frame + frame, self.rate) - self.start_sample

    def samples_between(self, start: int, end: int) -> int:
        """Exact sample count from relative frame ``start`` to relative frame ``end``."""
        return self.sample_at(end) - self.sample_at(start)

    def frame_covering(self, sample: int) -> int:
        """Smallest relative frame whose first sample is at or after relative ``sample``."""
        return sample_to_frame_ceil(sample + self.start_sample, self.rate) - self.start_frame

    def tc(self, frame: int) -> str:
        """Timecode of relative ``frame`` (timeline start + frame)."""
        return timecode(self.start_frame + frame, self.rate, self.drop_frame)

    def frame_of_seconds(self, seconds: Fraction | float) -> int:
        """Nearest relative frame of a time in seconds from the timeline start (script times)."""
        return _round_half_up(Fraction(seconds) * self.rate)
