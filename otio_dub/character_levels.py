"""Each character measured once, from which the loudness of any gained mix of them follows.

K-weighting is linear, so the 100 ms energies of ``sum g_c x_c`` are ``sum g_c^2 E_c + 2 sum g_a g_b X_ab``,
where ``E_c`` are a character's own energies and ``X_ab`` sums the product of two characters' K-weighted
signals: nonzero only where both sound (or ring) at once, which dialogue seldom does. One filtering
pass per character then gives the loudness plan, every character stem's loudness and the DIALOGUE's,
gates included (they work on these energies); a character stem's true peak is its own times its gain.
What cannot be derived, the DIALOGUE's true peak, is streamed once on its own (:func:`mix_peaks`), or
measured as its stem is written where it cannot reach the limit.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .loudness import Loudness, Meter, SegmentEnergies, TruePeak, loudness_of
from .render import BLOCK, Placement, mix_spans
from .timebase import SAMPLE_RATE

_SEGMENT = SAMPLE_RATE // 10  # the 100 ms of BS.1770's gating blocks (four to a block, 75% overlap)


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


def measure_characters(groups: Sequence[Sequence[Placement]], total: int, block: int = BLOCK) -> CharacterLevels:
    """Stream the placed lines once: each group's energies and peaks, and the cross energies of groups
    whose K-weighted signals overlap (a line still ringing into another character's counts)."""
    meters = [Meter(SAMPLE_RATE) for _ in groups]
    segments = total // _SEGMENT
    cross: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
    for b0, buf, n in mix_spans(groups, total, block):
        sounding = {i for i in range(len(groups)) if buf is not None and buf[i].any()}
        together = len(sounding) + sum(m.ringing for i, m in enumerate(meters) if i not in sounding) > 1
        filtered = {}
        for i, meter in enumerate(meters):
            if i in sounding:
                filtered[i] = meter.filter(buf[i])
            elif meter.ringing and together:  # a line still ringing under another's (or with it): keep its tail
                filtered[i] = meter.ring_out(n)
            else:
                meter.feed_silence(n)
        for a, b in itertools.combinations(sorted(k for k, f in filtered.items() if f is not None), 2):
            size = min(filtered[a].shape[0], filtered[b].shape[0])  # a tail rung out is zeros after its end
            products = filtered[a][:size, 0] * filtered[b][:size, 0]
            cross.setdefault((a, b), []).append(_segment_sums(products, b0, segments))
    peaks = [meter.peaks() for meter in meters]
    return CharacterLevels([meter.energies().values for meter in meters], [p for p, _ in peaks],
                           [s for _, s in peaks], cross)


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
