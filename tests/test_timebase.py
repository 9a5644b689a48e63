"""otio_dub.core.timebase: exact rates, frame <-> sample placement, timecode, TimeBase."""

from __future__ import annotations

from fractions import Fraction

import pytest

from otio_dub.core.timebase import (
    SAMPLE_RATE,
    TimeBase,
    exact_rate,
    frame_to_sample,
    is_drop_frame_rate,
    parse_timecode,
    sample_to_frame_ceil,
    timecode,
)

R23 = Fraction(24000, 1001)
R29 = Fraction(30000, 1001)
R47 = Fraction(48000, 1001)
R59 = Fraction(60000, 1001)

ALL_RATES = (23.976, 24, 25, 29.97, 30, 48, 50, 59.94)


def reference_sample(frame: int, rate: Fraction, sr: int = SAMPLE_RATE) -> int:
    """Independent integer-only reference: round-half-up of frame * sr * den / num."""
    num, den = rate.numerator, rate.denominator
    return (2 * frame * sr * den + num) // (2 * num)


# --------------------------------------------------------------------------- exact_rate


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (23.976, R23),
        (23.976023976023978, R23),
        (23.976023976, R23),
        (29.97, R29),
        (29.97002997002997, R29),
        (47.952, R47),
        (59.94, R59),
        (119.88, Fraction(120000, 1001)),
        (24, Fraction(24)),
        (24.0, Fraction(24)),
        (25, Fraction(25)),
        (30.0, Fraction(30)),
        (48, Fraction(48)),
        (50, Fraction(50)),
        (60.0, Fraction(60)),
        (12.5, Fraction(25, 2)),
    ],
)
def test_exact_rate(rate, expected):
    result = exact_rate(rate)
    assert isinstance(result, Fraction)
    assert result == expected


@pytest.mark.parametrize("rate", [24, 25, 30.0, 60.0, 50])
def test_exact_rate_integers_have_denominator_one(rate):
    assert exact_rate(rate).denominator == 1


def test_exact_rate_passes_fractions_through():
    assert exact_rate(R29) is R29


@pytest.mark.parametrize("rate", [0, 0.0, -24, -29.97])
def test_exact_rate_rejects_non_positive(rate):
    with pytest.raises(ValueError):
        exact_rate(rate)


@pytest.mark.parametrize(
    ("rate", "df"),
    [(R29, True), (R59, True), (R23, False), (Fraction(30), False), (Fraction(25), False), (R47, False)],
)
def test_is_drop_frame_rate(rate, df):
    assert is_drop_frame_rate(rate) is df


# --------------------------------------------------------------------------- frame_to_sample


@pytest.mark.parametrize(
    ("frame", "rate", "sample"),
    [
        (0, R29, 0),
        (1, R29, 1602),  # 1601.6 rounds up
        (2, R29, 3203),  # 3203.2 rounds down
        (5, R29, 8008),  # exact
        (107892, R29, 172799827),  # 01:00:00;00 DF: 172799827.2
        (1, R23, 2002),
        (1000, R23, 2002000),
        (86400, R23, 172972800),
        (1, R59, 801),  # 800.8
        (2, R59, 1602),  # 1601.6
        (1, Fraction(24), 2000),
        (1, Fraction(25), 1920),
        (90000, Fraction(25), 172800000),
        (1, Fraction(30), 1600),
        (1, Fraction(48), 1000),
        (1, Fraction(50), 960),
        (1, Fraction(60), 800),
        (1, R47, 1001),
    ],
)
def test_frame_to_sample_exact_values(frame, rate, sample):
    assert frame_to_sample(frame, rate) == sample


@pytest.mark.parametrize("frame", [0, 1, 7, 24, 1001, 86400, 172800])
def test_frame_to_sample_23976_is_exactly_2002_per_frame(frame):
    assert frame_to_sample(frame, R23) == 2002 * frame


def test_frame_to_sample_round_half_up():
    # at 96000 fps every frame is half a sample: halves round up, never to even
    assert frame_to_sample(1, Fraction(96000)) == 1
    assert frame_to_sample(3, Fraction(96000)) == 2
    assert frame_to_sample(5, Fraction(96000)) == 3


def test_frame_to_sample_other_sample_rate():
    assert frame_to_sample(1, R29, sample_rate=44100) == reference_sample(1, R29, 44100) == 1471  # 1471.47
    assert frame_to_sample(30, Fraction(30), sample_rate=44100) == 44100


@pytest.mark.parametrize("rate_in", ALL_RATES)
def test_no_drift_at_two_hours(rate_in):
    rate = exact_rate(rate_in)
    frames_in_two_hours = 7200 * rate.numerator // rate.denominator
    last = frames_in_two_hours - 1
    assert frame_to_sample(last, rate) == reference_sample(last, rate)
    assert frame_to_sample(frames_in_two_hours, rate) == reference_sample(frames_in_two_hours, rate)
    # the first sample after 2 h of frames is within one frame of 2 h of samples, never drifting
    assert abs(frame_to_sample(frames_in_two_hours, rate) - 7200 * SAMPLE_RATE) < SAMPLE_RATE / rate
    # and a spread of frames across the two hours matches the reference exactly
    for frame in range(0, frames_in_two_hours, 9973):
        assert frame_to_sample(frame, rate) == reference_sample(frame, rate)


@pytest.mark.parametrize("rate_in", ALL_RATES)
@pytest.mark.parametrize("start_frame", [0, 86400, 107892])
def test_per_frame_counts_sum_without_running_error(rate_in, start_frame):
    rate = exact_rate(rate_in)
    tb = TimeBase(rate, start_frame)
    per_frame = SAMPLE_RATE / rate
    lo, hi = int(per_frame), -(-SAMPLE_RATE * rate.denominator // rate.numerator)
    # one window at the start and one ~2 hours in
    for first in (0, 7200 * rate.numerator // rate.denominator - 1500):
        counts = [tb.samples_between(f, f + 1) for f in range(first, first + 1500)]
        assert all(lo <= c <= hi for c in counts)
        assert sum(counts) == tb.samples_between(first, first + 1500)
        # and the window's total matches the independent absolute reference
        expected = reference_sample(start_frame + first + 1500, rate) - reference_sample(start_frame + first, rate)
        assert sum(counts) == expected


def test_2997_per_frame_pattern_is_1601_1602():
    counts = [TimeBase(R29).samples_between(f, f + 1) for f in range(5)]
    assert counts == [1602, 1601, 1602, 1601, 1602]
    assert sum(counts) == 8008


# --------------------------------------------------------------------------- sample_to_frame_ceil


@pytest.mark.parametrize("rate_in", ALL_RATES)
def test_sample_to_frame_ceil_round_trips(rate_in):
    rate = exact_rate(rate_in)
    for frame in list(range(0, 200)) + [86400, 107892, 172799, 215783]:
        s = frame_to_sample(frame, rate)
        assert sample_to_frame_ceil(s, rate) == frame
        assert sample_to_frame_ceil(s + 1, rate) == frame + 1
        if frame > 0:
            assert sample_to_frame_ceil(s - 1, rate) == frame


@pytest.mark.parametrize(
    ("sample", "rate", "frame"),
    [(0, R29, 0), (1, R29, 1), (1602, R29, 1), (1603, R29, 2), (2002, R23, 1), (2003, R23, 2), (801, R59, 1)],
)
def test_sample_to_frame_ceil_values(sample, rate, frame):
    assert sample_to_frame_ceil(sample, rate) == frame


# --------------------------------------------------------------------------- timecode


@pytest.mark.parametrize(
    ("frame", "rate", "drop", "text"),
    [
        (107892, R29, None, "01:00:00;00"),
        (107892, R29, True, "01:00:00;00"),
        (107892, R29, False, "00:59:56:12"),
        (1800, R29, None, "00:01:00;02"),
        (17982, R29, None, "00:10:00;00"),
        (108000, Fraction(30), None, "01:00:00:00"),
        (86400, R23, None, "01:00:00:00"),
        (215784, R59, None, "01:00:00;00"),
        (3600, R59, None, "00:01:00;04"),
        (90000, Fraction(25), None, "01:00:00:00"),
        (90001, Fraction(25), None, "01:00:00:01"),
        (180000, Fraction(50), None, "01:00:00:00"),
        (0, Fraction(24), None, "00:00:00:00"),
    ],
)
def test_timecode(frame, rate, drop, text):
    assert timecode(frame, rate, drop) == text


@pytest.mark.parametrize(
    ("text", "rate", "frame"),
    [
        ("01:00:00;00", R29, 107892),
        ("00:01:00;02", R29, 1800),
        ("00:10:00;00", R29, 17982),
        ("01:00:00:00", R29, 108000),  # ':' means non-drop counting
        ("01:00:00:00", R23, 86400),
        ("01:00:00;00", R59, 215784),
        ("00:01:00;04", R59, 3600),
        ("01:00:00:00", Fraction(25), 90000),
        ("10:00:00:00", Fraction(25), 900000),
        ("01:00:00:00", Fraction(50), 180000),
        ("00:00:01:00", Fraction(24), 24),
        (" 01:00:00:00 ", Fraction(24), 86400),
    ],
)
def test_parse_timecode(text, rate, frame):
    assert parse_timecode(text, rate) == frame


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("01:00:00:30", R29),
        ("01:00:00:25", Fraction(25)),
        ("00:00:00:60", R59),
        ("00:00:60:00", Fraction(25)),
        ("00:60:00:00", Fraction(24)),
        ("1:2:3", Fraction(24)),
        ("abc", Fraction(24)),
        ("", Fraction(24)),
        ("01:00:00:00:00", Fraction(24)),
        ("01:00:-1:00", Fraction(24)),
        ("01:00:00;00", Fraction(25)),  # drop-frame separator at a non-drop rate
    ],
)
def test_parse_timecode_rejects(text, rate):
    with pytest.raises(ValueError):
        parse_timecode(text, rate)


@pytest.mark.parametrize("rate", [R29, R59, R23, Fraction(25), Fraction(30), Fraction(50)])
def test_timecode_parse_round_trip(rate):
    for frame in [0, 1, 1799, 1800, 1801, 17981, 17982, 86399, 107892, 215784, 1295999]:
        assert parse_timecode(timecode(frame, rate), rate) == frame


# --------------------------------------------------------------------------- TimeBase


def test_timebase_start_sample_and_relative_samples():
    tb = TimeBase(R29, 107892)
    assert tb.start_sample == 172799827
    assert tb.sample_at(0) == 0
    # relative positions are differences of absolute positions, not multiples of 1601.6
    assert tb.sample_at(1) == frame_to_sample(107893, R29) - 172799827
    assert tb.sample_at(1) == 1602  # 172801428.8 -> 172801429, minus 172799827 (172799827.2 rounded)
    assert [tb.sample_at(f) for f in range(6)] == [0, 1602, 3203, 4805, 6407, 8008]
    assert tb.samples_between(0, 5) == 8008
    assert tb.samples_between(3, 3) == 0
    assert tb.samples_between(5, 0) == -8008


@pytest.mark.parametrize(
    ("rate", "start", "frame", "sample"),
    [
        (R23, 86400, 10, 20020),
        (Fraction(25), 90000, 25, 48000),
        (Fraction(24), 0, 24, 48000),
        (R59, 0, 1, 801),
    ],
)
def test_timebase_sample_at(rate, start, frame, sample):
    assert TimeBase(rate, start).sample_at(frame) == sample


@pytest.mark.parametrize("rate_in", ALL_RATES)
@pytest.mark.parametrize("start_frame", [0, 86400, 107892])
def test_frame_covering_is_smallest_frame_at_or_after(rate_in, start_frame):
    tb = TimeBase(exact_rate(rate_in), start_frame)
    for sample in list(range(0, 5000, 97)) + [tb.sample_at(100), tb.sample_at(100) + 1, tb.sample_at(100) - 1]:
        frame = tb.frame_covering(sample)
        assert tb.sample_at(frame) >= sample
        assert frame == 0 or tb.sample_at(frame - 1) < sample


def test_frame_covering_values():
    tb = TimeBase(R29, 107892)
    assert tb.frame_covering(0) == 0
    assert tb.frame_covering(1) == 1
    assert tb.frame_covering(1602) == 1
    assert tb.frame_covering(1603) == 2
    assert tb.frame_covering(8008) == 5


@pytest.mark.parametrize(
    ("tb", "frame", "text"),
    [
        (TimeBase(R29, 107892), 0, "01:00:00;00"),
        (TimeBase(R29, 107892), 1800, "01:01:00;02"),
        (TimeBase(R29, 107892, drop_frame=False), 0, "00:59:56:12"),
        (TimeBase(R23, 86400), 24, "01:00:01:00"),
        (TimeBase(Fraction(25), 90000), 0, "01:00:00:00"),
        (TimeBase(R59, 215784), 0, "01:00:00;00"),
        (TimeBase(Fraction(30), 108000), 1800, "01:01:00:00"),
    ],
)
def test_timebase_tc(tb, frame, text):
    assert tb.tc(frame) == text


@pytest.mark.parametrize(
    ("rate", "seconds", "frame"),
    [
        (Fraction(25), Fraction(1), 25),
        (Fraction(25), Fraction(1060, 1000), 27),  # 26.5 rounds half up
        (R29, Fraction(1), 30),  # 29.97 -> 30
        (R23, Fraction(1001, 1000), 24),
        (Fraction(24), 0.5, 12),
    ],
)
def test_frame_of_seconds(rate, seconds, frame):
    assert TimeBase(rate, 12345).frame_of_seconds(seconds) == frame


@pytest.mark.parametrize("tc, rate", [("00:01:00;00", Fraction(30000, 1001)), ("00:01:00;01", Fraction(30000, 1001)),
                                      ("00:03:00;03", Fraction(60000, 1001))])
def test_parse_timecode_rejects_labels_drop_frame_skips(tc, rate):
    with pytest.raises(ValueError, match="drop-frame"):
        parse_timecode(tc, rate)


@pytest.mark.parametrize("tc, frame", [("00:10:00;00", 17982), ("00:01:00;02", 1800)])
def test_parse_timecode_keeps_labels_drop_frame_does_not_skip(tc, frame):
    assert parse_timecode(tc, Fraction(30000, 1001)) == frame


def test_exact_rate_reads_rounded_ntsc_rates():
    assert exact_rate(23.98) == Fraction(24000, 1001)
    assert exact_rate(59.94) == Fraction(60000, 1001)
