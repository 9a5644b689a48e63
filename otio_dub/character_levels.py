"""Each character measured once, from which the loudness of any gained mix of them follows.

K-weighting is linear, so the 100 ms energies of ``sum g_c x_c`` are ``sum g_c^2 E_c + 2 sum g_a g_b X_ab``,
where ``E_c`` are a character's own energies and ``X_ab`` sums the product of two characters' K-weighted
signals: nonzero only where both sound (or ring) at once, which dialogue seldom does. One filtering
pass per character then gives the loudness plan, every character stem's loudness and the DIALOGUE's,
gates included (they work on these energies); a character stem's true peak is its own times its gain.
What cannot be derived, the DIALOGUE's true peak, is streamed once on its own (:func:`mix_peaks`).
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
    cross: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    def character(self, index: int, gain: float = 1.0) -> SegmentEnergies:
        """One character's energies at linear ``gain``."""
        return SegmentEnergies(SAMPLE_RATE, self.energies[index] * (gain * gain))

    def mix(self, gains: Sequence[float]) -> SegmentEnergies:
        """The energies of the characters summed at linear ``gains`` (exactly those of the summed signal)."""
        values = sum((self.energies[i] * (g * g) for i, g in enumerate(gains)), np.zeros_like(self.energies[0]))
        for (a, b), products in self.cross.items():
            values = values + products * (2.0 * gains[a] * gains[b])
        return SegmentEnergies(SAMPLE_RATE, values)

    def loudness(self, index: int, gain: float) -> Loudness:
        """A character stem's full measurement at linear ``gain``."""
        return loudness_of(self.character(index, gain), self.peaks[index] * gain, self.sample_peaks[index] * gain)


def measure_characters(groups: Sequence[Sequence[Placement]], total: int, block: int = BLOCK) -> CharacterLevels:
    """Stream the placed lines once: each group's energies and peaks, and the cross energies of groups
    whose K-weighted signals overlap (a line still ringing into another character's counts)."""
    meters = [Meter(SAMPLE_RATE) for _ in groups]
    segments = total // _SEGMENT
    cross: dict[tuple[int, int], np.ndarray] = {}
    for b0, buf, n in mix_spans(groups, total, block):
        if buf is None:
            for meter in meters:
                meter.feed_silence(n)
            continue
        sounding = [i for i in range(len(groups)) if buf[i].any()]
        filtered = {}
        for i, meter in enumerate(meters):
            if i in sounding:
                filtered[i] = meter.filter(buf[i])
            elif meter.ringing and sounding:  # a line still ringing under another's: keep its tail
                filtered[i] = meter.ring_out(n)
            else:
                meter.feed_silence(n)
        for a, b in itertools.combinations(sorted(k for k, f in filtered.items() if f is not None), 2):
            products = (filtered[a] * filtered[b])[:, 0]
            _add_segments(cross.setdefault((a, b), np.zeros(segments)), products, b0)
    peaks = [meter.peaks() for meter in meters]
    return CharacterLevels([meter.energies().values for meter in meters], [p for p, _ in peaks],
                           [s for _, s in peaks], cross)


def _add_segments(into: np.ndarray, values: np.ndarray, start: int) -> None:
    """Add per-sample ``values`` starting at programme sample ``start`` into their 100 ms segments
    (a trailing partial segment of the programme is not a segment, as for a Meter)."""
    first = start // _SEGMENT
    sums = np.bincount((np.arange(values.size) + start % _SEGMENT) // _SEGMENT, weights=values)
    room = max(0, min(sums.size, into.size - first))
    into[first: first + room] += sums[:room]


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
