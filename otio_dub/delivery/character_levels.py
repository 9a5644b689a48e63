"""Each character measured once, from which the loudness of any gained mix of them follows.

K-weighting is linear, so the 100 ms energies of ``sum g_c x_c`` are ``sum g_c^2 E_c + 2 sum g_a g_b X_ab``,
where ``E_c`` are a character's own energies and ``X_ab`` sums the product of two characters' K-weighted
signals: nonzero only where both sound (or ring) at once, which dialogue seldom does. One filtering
pass per character then gives the loudness plan, every character stem's loudness and the DIALOGUE's,
gates included (they work on these energies); a character stem's true peak is its own times its gain.
The DIALOGUE's true peak is derived where one character sounds alone (its solo peak times its gain)
and streamed only where characters meet (:func:`dialogue_peaks`), or measured as its stem is written
where it cannot reach the limit.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..audio.bwf import BLOCK, Placement, mix_spans
from ..audio.loudness import TRUE_PEAK_REACH, Loudness, Meter, SegmentEnergies, TruePeak, loudness_of
from ..core.threads import in_parallel
from ..core.timebase import SAMPLE_RATE

_SEGMENT = SAMPLE_RATE // 10  # the 100 ms of BS.1770's gating blocks (four to a block, 75% overlap)
#: Silence before a cut between parts measured apart: K-weighting rings out to exact zeros well within it
#: (a part that still rings at its end is caught, and the whole measured in one pass).
_REST = SAMPLE_RATE


@dataclass
class CharacterLevels:
    """Per character (in ``groups`` order): K-weighted 100 ms energies and true/sample peak at gain 1;
    per pair of characters that ever sounded together, their cross energies."""

    energies: list[np.ndarray]
    peaks: list[float]
    sample_peaks: list[float]
    # per pair, where they sounded together: (first segment, sums), kept sparse (a pair that spoke together
    # once does not cost a programme-long array)
    cross: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = field(default_factory=dict)
    # per character, its true and sample peak where no other character sounds within the true-peak
    # filter's reach (see :func:`dialogue_peaks`); empty when not measured
    solo_peaks: list[float] = field(default_factory=list)
    solo_sample_peaks: list[float] = field(default_factory=list)
    shared: list[tuple[int, int]] = field(default_factory=list)  # the stretches where they meet: shared_spans

    def character(self, index: int, gain: float = 1.0) -> SegmentEnergies:
        """One character's energies at linear ``gain``."""
        return SegmentEnergies(SAMPLE_RATE, self.energies[index] * (gain * gain))

    def mix(self, gains: Sequence[float]) -> SegmentEnergies:
        """The energies of the characters summed at linear ``gains`` (exactly those of the summed signal)."""
        values = sum((self.energies[i] * (g * g) for i, g in enumerate(gains)), np.zeros_like(self.energies[0]))
        for (a, b), spans in self.cross.items():
            for first, sums in spans:
                values[first: first + sums.size] += sums * (2.0 * gains[a] * gains[b])
        return SegmentEnergies(SAMPLE_RATE, values)

    def loudness(self, index: int, gain: float) -> Loudness:
        """A character stem's full measurement at linear ``gain``."""
        return loudness_of(self.character(index, gain), self.peaks[index] * gain, self.sample_peaks[index] * gain)


def measure_characters(groups: Sequence[Sequence[Placement]], total: int, block: int = BLOCK,
                       workers: int = 1) -> CharacterLevels:
    """Stream the placed lines once: each group's energies and peaks, and the cross energies of groups
    whose K-weighted signals overlap (a line still ringing into another character's counts).

    Each group's true peak is metered in two parts, where it sounds alone and where another group
    sounds near it (:func:`shared_spans`): its peak is the larger, and the solo part gives the
    DIALOGUE's true peak there without streaming the mix (:func:`dialogue_peaks`).
    ``workers`` > 1: the programme is cut where everyone has been silent a while (:func:`quiet_cuts`)
    and the parts are measured on that many threads; the figures are the same bits as one pass's.
    """
    cuts = quiet_cuts(groups, total, workers)
    if len(cuts) > 2:
        import scipy.signal  # noqa: F401 - imported here once, not by every part's thread at the same time
    parts = in_parallel([functools.partial(_measure_part, groups, cuts, k, block) for k in range(len(cuts) - 1)],
                        workers)
    if not all(part.at_rest for part in parts[:-1]):  # a filter still rang at a cut: measure in one pass
        cuts, parts = [0, total], [_measure_part(groups, [0, total], 0, block)]
    cross: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
    for lo, part in zip(cuts[:-1], parts, strict=True):
        for pair, spans in part.cross.items():
            cross.setdefault(pair, []).extend((first + lo // _SEGMENT, sums) for first, sums in spans)
    energies = [np.concatenate([part.energies[i] for part in parts]) for i in range(len(groups))]
    solo = [[max(part.solo[i][j] for part in parts) for j in (0, 1)] for i in range(len(groups))]  # (true, sample)
    near = [[max(part.shared[i][j] for part in parts) for j in (0, 1)] for i in range(len(groups))]
    return CharacterLevels(energies, [max(a[0], b[0]) for a, b in zip(solo, near, strict=True)],
                           [max(a[1], b[1]) for a, b in zip(solo, near, strict=True)], cross,
                           [a[0] for a in solo], [a[1] for a in solo], shared_spans(groups))


@dataclass
class _Part:
    """One stretch of the programme measured on its own (:func:`_measure_part`), in its own time."""

    energies: list[np.ndarray]
    solo: list[tuple[float, float]]  # per group, (true, sample) peak where it sounds alone
    shared: list[tuple[float, float]]  # and where another group sounds near it
    cross: dict[tuple[int, int], list[tuple[int, np.ndarray]]]
    at_rest: bool  # every filter at rest well before its end: the next part starting from rest is exact


def _measure_part(groups: Sequence[Sequence[Placement]], cuts: Sequence[int], k: int, block: int) -> _Part:
    """The placements starting between ``cuts[k]`` and ``cuts[k + 1]`` measured from rest, as if the
    programme began at the first cut (segments line up: cuts are whole 100 ms segments)."""
    lo, hi = cuts[k], cuts[k + 1]
    inner = cuts[1:-1]
    if len(cuts) > 2:
        groups = [[replace(p, start=p.start - lo) for p in group if bisect.bisect_right(inner, p.start) == k]
                  for group in groups]
    meters = [Meter(SAMPLE_RATE, true_peak=False) for _ in groups]
    solo, shared = [TruePeak() for _ in groups], [TruePeak() for _ in groups]
    spans = shared_spans(groups)
    segments = (hi - lo) // _SEGMENT
    cross: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
    for b0, buf, n in mix_spans(groups, hi - lo, block):
        sounding = {i for i in range(len(groups)) if buf is not None and buf[i].any()}
        _feed_peaks(solo, shared, buf, n, sounding, _inside(spans, b0))
        together = len(sounding) + sum(m.ringing for i, m in enumerate(meters) if i not in sounding) > 1
        filtered = {}
        for i, meter in enumerate(meters):
            if i in sounding:
                assert buf is not None  # nothing sounds in a stretch without samples
                filtered[i] = meter.filter(buf[i])
            elif meter.ringing and together:  # a line still ringing under another's (or with it): keep its tail
                filtered[i] = meter.ring_out(n)
            else:
                meter.feed_silence(n)
        heard = {k: f for k, f in filtered.items() if f is not None}
        for a, b in itertools.combinations(sorted(heard), 2):
            size = min(heard[a].shape[0], heard[b].shape[0])  # a tail rung out is zeros after its end
            products = heard[a][:size, 0] * heard[b][:size, 0]
            cross.setdefault((a, b), []).append(_segment_sums(products, b0, segments))
    # at rest a whole ring-out step (a segment) before the cut: that step, and every one before it, was as
    # long here as in one pass, so the filter came to rest at the same sample with the same state
    at_rest = all(meter.rested >= _SEGMENT for meter in meters)
    return _Part([meter.energies().values for meter in meters], [(m.finish(), m.sample_peak) for m in solo],
                 [(m.finish(), m.sample_peak) for m in shared], cross, at_rest)


def quiet_cuts(groups: Sequence[Sequence[Placement]], total: int, parts: int) -> list[int]:
    """``[0, cut, ..., total]``: up to ``parts - 1`` cuts that share the sounding samples about evenly
    among the parts, each on a 100 ms segment boundary at least :data:`_REST` after every placement
    before it has ended and no later than the next one starts."""
    if parts <= 1:
        return [0, total]
    candidates: list[tuple[int, int]] = []  # (sounding samples before it, cut)
    sounding, end = 0, None
    for start, stop in sorted((p.start, p.start + p.length) for group in groups for p in group if p.length > 0):
        if end is not None and start > end:
            cut = -(-(end + _REST) // _SEGMENT) * _SEGMENT
            if cut <= start and 0 < cut < total:
                candidates.append((sounding, cut))
        sounding += max(0, stop - max(start, end if end is not None else start))
        end = stop if end is None else max(end, stop)
    if not candidates:
        return [0, total]
    cuts = set()
    for k in range(1, parts):
        target = sounding * k / parts
        i = bisect.bisect_left(candidates, (target, -1))
        near = candidates[max(0, i - 1): i + 1]
        cuts.add(min(near, key=lambda c: abs(c[0] - target))[1])
    return [0, *sorted(cuts), total]


def _feed_peaks(solo: list[TruePeak], shared: list[TruePeak], buf: np.ndarray | None, n: int, sounding: set[int],
                near_others: bool) -> None:
    """One block into each group's solo or shared true-peak meter (the other hears silence)."""
    for i in range(len(solo)):
        if i in sounding:
            fed, rest = (shared[i], solo[i]) if near_others else (solo[i], shared[i])
            assert buf is not None  # nothing sounds in a stretch without samples
            fed.feed(buf[i])  # float32, measured as it is (the filter runs in float32 either way)
            rest.feed_silence(n)
        else:
            solo[i].feed_silence(n)
            shared[i].feed_silence(n)


def shared_spans(groups: Sequence[Sequence[Placement]]) -> list[tuple[int, int]]:
    """The stretches (start, end) where more than one group sounds within the true-peak filter's reach.

    Placements are chained into regions while fewer than ``TRUE_PEAK_REACH`` samples of silence part
    them; a region with more than one group is shared. Outside the shared regions each output of the
    4x true-peak filter depends on one group's samples alone, so the DIALOGUE's true peak there is a
    group's own times its weight. Conservative: every placement counts, whatever its gain or end.
    """
    items = sorted((p.start, p.start + p.length, g) for g, group in enumerate(groups) for p in group if p.length > 0)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(items):
        start, end, members = items[i][0], items[i][1], {items[i][2]}
        i += 1
        while i < len(items) and items[i][0] < end + TRUE_PEAK_REACH:
            end, members = max(end, items[i][1]), members | {items[i][2]}
            i += 1
        if len(members) > 1:
            spans.append((start, end))
    return spans


def _inside(spans: list[tuple[int, int]], sample: int) -> bool:
    """Whether ``sample`` lies in one of ``spans`` (sorted, disjoint)."""
    k = bisect.bisect_right(spans, (sample, math.inf)) - 1
    return k >= 0 and spans[k][0] <= sample < spans[k][1]


def _segment_sums(values: np.ndarray, start: int, segments: int) -> tuple[int, np.ndarray]:
    """Per-sample ``values`` from programme sample ``start`` summed into their 100 ms segments: (first
    segment, sums), within the programme's ``segments`` (a trailing partial one is none, as for a Meter)."""
    first = start // _SEGMENT
    sums = np.bincount((np.arange(values.size) + start % _SEGMENT) // _SEGMENT, weights=values)
    return first, sums[: max(0, min(sums.size, segments - first))]


def mix_peaks(groups: Sequence[Sequence[Placement]], total: int, weights: Sequence[float],
              block: int = BLOCK) -> tuple[float, float]:
    """(true peak, sample peak), linear, of the groups summed at ``weights``: one streamed pass,
    true peak only (no K-weighting), silence counted, not computed."""
    meter = TruePeak()
    w = np.asarray(weights, dtype=np.float32)
    for _, buf, n in mix_spans(groups, total, block):
        if buf is None:
            meter.feed_silence(n)
        else:
            meter.feed(w @ buf)
    return meter.finish(), meter.sample_peak


def dialogue_peaks(groups: Sequence[Sequence[Placement]], total: int, weights: Sequence[float],
                   levels: CharacterLevels, block: int = BLOCK) -> tuple[float, float]:
    """:func:`mix_peaks`, streaming only the shared regions: where one group sounds alone the mix is
    that group times its weight, and the filter is linear, so its peaks there are the group's solo
    peaks times the weight (dialogue seldom overlaps: a fraction of the programme is streamed)."""
    near = [[p for p in group if _inside(levels.shared, p.start)] for group in groups]
    true_peak, sample_peak = mix_peaks(near, total, weights, block) if any(near) else (0.0, 0.0)
    alone = [(w * tp, w * sp) for w, tp, sp in zip(weights, levels.solo_peaks, levels.solo_sample_peaks, strict=True)]
    return max([true_peak, *(a[0] for a in alone)]), max([sample_peak, *(a[1] for a in alone)])
