"""Pure isochrony planning: natural speech length + window -> how to fit it. No I/O, no audio.

All lengths are integer samples at 48 kHz. A speed is natural/fitted length (1.25 = 25% faster).
The plan is what a dubbing engineer would do: fit within the speed bounds; if the speech is still
too long, borrow the silence after the line (never another line's time); else place it whole and
flag it; if it is short, slow it no further than the bound and pad, aligned as asked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

OVERFLOW_POLICIES = ("borrow", "overrun", "error")
ALIGNMENTS = ("start", "center", "guide")


@dataclass(frozen=True)
class FitPolicy:
    """The user's fitting rules (CLI options map onto these fields one to one)."""

    max_speedup: float = 1.25
    max_slowdown: float = 0.9
    overflow: str = "borrow"
    max_borrow_ms: int = 500
    align: str = "start"
    passes: int = 3
    head_pad_ms: int = 0
    tail_pad_ms: int = 0

    def __post_init__(self) -> None:
        if not self.max_speedup >= 1.0:
            raise ValueError(f"max speed-up must be >= 1.0, got {self.max_speedup}")
        if not 0 < self.max_slowdown <= 1.0:
            raise ValueError(f"max slow-down must be in (0, 1], got {self.max_slowdown}")
        if self.overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}, got {self.overflow!r}")
        if self.align not in ALIGNMENTS:
            raise ValueError(f"align must be one of {', '.join(ALIGNMENTS)}, got {self.align!r}")
        if self.passes < 1 or self.max_borrow_ms < 0 or self.head_pad_ms < 0 or self.tail_pad_ms < 0:
            raise ValueError("passes must be >= 1; borrow and pads must not be negative")


@dataclass(frozen=True)
class Window:
    """Where a line may speak: its clip length, pads, and silence free after it (all samples)."""

    samples: int
    head_pad: int = 0
    tail_pad: int = 0
    free_after: int = 0

    @property
    def speech(self) -> int:
        """Samples available to speech inside the clip (clip minus pads, never below one)."""
        return max(1, self.samples - self.head_pad - self.tail_pad)


@dataclass(frozen=True)
class FitPlan:
    """The decision for one line: the speech length to reach and where it sits in the media."""

    status: str  # fit | padded | borrowed | overrun
    speed: float  # total natural/fitted speed factor to apply
    speech_samples: int  # length the fitted speech must have
    offset: int  # first speech sample inside the media
    media_samples: int  # at least the window; longer when borrowed or overrun
    needed_speed: float  # natural / window speech: what a perfect fit would need
    borrowed: int  # samples taken from the silence after the window


def plan(natural: int, window: Window, policy: FitPolicy) -> FitPlan:
    """Decide speed, padding, alignment and overflow for ``natural`` samples of speech."""
    if natural <= 0:
        return FitPlan("padded", 1.0, 0, window.head_pad, window.samples, 0.0, 0)
    avail = window.speech
    needed = natural / avail
    if needed > policy.max_speedup:
        speed = policy.max_speedup
        length = math.ceil(natural / speed)
        extra = window.head_pad + length - (window.samples - window.tail_pad)
        borrowable = min(window.free_after, policy.max_borrow_ms * 48)
        if policy.overflow == "borrow" and extra <= borrowable:
            return FitPlan("borrowed", natural / length, length, window.head_pad, window.samples + extra, needed, extra)
        media = window.head_pad + length + window.tail_pad
        return FitPlan("overrun", natural / length, length, window.head_pad, max(media, window.samples), needed, 0)
    if needed < policy.max_slowdown:
        length = math.floor(natural / policy.max_slowdown)  # floor: never slower than the bound
        # guide: the pads already put the window on the original speech, so start at its onset
        offset = window.head_pad + (avail - length) // 2 if policy.align == "center" else window.head_pad
        return FitPlan("padded", natural / length, length, offset, window.samples, needed, 0)
    return FitPlan("fit", natural / avail, avail, window.head_pad, window.samples, needed, 0)


Curve = tuple[tuple[float, float], ...]  # (speed, length relative to speed 1.0), speeds ascending


def next_speed(history: list[tuple[float, int]], target: int, lo: float, hi: float, curve: Curve | None = None) -> float:
    """Engine speed for the next synthesis pass, from measured (speed, length) pairs.

    Length does not follow 1/speed: pauses, phoneme minima and a neural voice's whole-frame
    durations do not scale, and how much does not depends on the speed (piper answers a slow-down
    about half as much as 1/speed would, a large speed-up almost fully). ``curve`` is the voice's
    measured response (:func:`response_curve`): the next speed is read off it, scaled through the
    pass closest to the target. Two passes on either side of the target are the line's own truth:
    between them, the log-log secant. Without a curve, the secant through the two nearest passes, or
    length as 1/speed from a single one.
    """
    below = [h for h in history if 0 < h[1] <= target]
    above = [h for h in history if h[1] > target]
    if below and above:
        (s0, n0), (s1, n1) = max(below, key=lambda h: h[1]), min(above, key=lambda h: h[1])
        if n0 != n1 and s0 != s1:
            k = math.log(n1 / n0) / math.log(s0 / s1)
            if k > 0:
                return min(max(s1 * (n1 / target) ** (1.0 / k), lo), hi)
    nearest = sorted(history, key=lambda h: abs(math.log(max(h[1], 1) / max(target, 1))))
    s1, n1 = nearest[0]
    if n1 <= 0 or target <= 0:
        return min(max(s1, lo), hi)
    if curve is None and len(nearest) >= 2:  # no voice curve: the line's own slope through its two nearest passes
        s0, n0 = nearest[1]
        if n0 > 0 and n0 != n1 and s0 != s1 and 0.1 < (k := math.log(n1 / n0) / math.log(s0 / s1)) < 3.0:
            return min(max(s1 * (n1 / target) ** (1.0 / k), lo), hi)
    curve = curve or ((0.5, 2.0), (2.0, 0.5))
    wanted = _relative(curve, s1) * target / n1
    return min(max(_speed_for(curve, wanted), lo), hi)


def _relative(curve: Curve, speed: float) -> float:
    """The curve's relative length at ``speed`` (log-log interpolation; the end segments extended)."""
    x = math.log(speed)
    i = _segment(curve, lambda p: math.log(p[0]) >= x)
    (sa, ra), (sb, rb) = curve[i], curve[i + 1]
    t = (x - math.log(sa)) / (math.log(sb) - math.log(sa))
    return math.exp(math.log(ra) + t * (math.log(rb) - math.log(ra)))


def _speed_for(curve: Curve, relative: float) -> float:
    """The speed at which the curve gives ``relative`` length (the inverse of :func:`_relative`)."""
    y = math.log(relative)
    i = _segment(curve, lambda p: math.log(p[1]) <= y)
    (sa, ra), (sb, rb) = curve[i], curve[i + 1]
    if ra == rb:
        return sa
    t = (y - math.log(ra)) / (math.log(rb) - math.log(ra))
    return math.exp(math.log(sa) + t * (math.log(sb) - math.log(sa)))


def _segment(curve: Curve, past: Callable[[tuple[float, float]], bool]) -> int:
    """Index of the segment [i, i + 1] to interpolate on: the first point ``past`` the value ends it."""
    for i in range(1, len(curve) - 1):
        if past(curve[i]):
            return i - 1
    return len(curve) - 2


def response_curve(measured: list[list[tuple[float, int]]]) -> Curve | None:
    """A voice's duration response from passages spoken at the same few speeds (one of them 1.0):
    per speed, the geometric mean of each passage's length relative to its own at 1.0, made
    strictly decreasing. None when nothing usable was measured."""
    ratios: dict[float, list[float]] = {}
    for points in measured:
        ref = dict(points).get(1.0, 0)
        if ref <= 0:
            continue
        for speed, n in points:
            if n > 0:
                ratios.setdefault(speed, []).append(math.log(n / ref))
    speeds = sorted(s for s in ratios if s > 0)
    if len(speeds) < 2 or 1.0 not in speeds:
        return None
    curve, last = [], math.inf
    for speed in speeds:
        rel = math.exp(sum(ratios[speed]) / len(ratios[speed]))
        rel = min(rel, last * 0.999)  # strictly falling: a faster pass is never expected to be longer
        curve.append((speed, rel))
        last = rel
    return tuple(curve)


_VOWELS = re.compile(r"[aeiouyáéíóúàèìòùâêîôûäëïöüæøåœ]+", re.IGNORECASE)


def syllables(text: str) -> int:
    """Rough syllable count (vowel groups) for the 'shorten by ~N syllables' hint."""
    return max(1, len(_VOWELS.findall(text)))


def overrun_hint(needed_speed: float, max_speedup: float, text: str) -> str:
    """The editor-facing advice for a line that cannot fit: needed speed and syllables to cut."""
    cut = math.ceil(syllables(text) * (1 - max_speedup / needed_speed)) if needed_speed > 0 else 0
    return f"needs {needed_speed:.2f}x (max {max_speedup:.2f}x); shorten by ~{max(cut, 1)} syllables"


def speed_for(length: Callable[[float], float], aim: int, lo: float, hi: float) -> float:
    """The speed in [lo, hi] whose predicted ``length`` is nearest ``aim`` (length falls as speed rises).

    ``length`` is a step function (a voice's whole-frame durations), so bisection finds the step
    that crosses ``aim`` and the nearer side of it is taken.
    """
    if length(lo) <= aim:
        return lo
    if length(hi) >= aim:
        return hi
    slow, fast = math.log(lo), math.log(hi)  # length(slow) > aim >= length(fast)
    for _ in range(40):
        mid = (slow + fast) / 2
        slow, fast = (mid, fast) if length(math.exp(mid)) > aim else (slow, mid)
    slow, fast = math.exp(slow), math.exp(fast)
    return slow if abs(length(slow) - aim) < abs(length(fast) - aim) else fast
