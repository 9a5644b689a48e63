"""Pure isochrony planning: natural speech length + window -> how to fit it. No I/O, no audio.

All lengths are integer samples at 48 kHz. A speed is natural/fitted length (1.25 = 25% faster).
The plan is what a dubbing engineer would do: fit within the speed bounds; if the speech is still
too long, borrow the silence after the line (never another line's time); else place it whole and
flag it; if it is short, slow it no further than the bound and pad, aligned as asked.
"""

from __future__ import annotations

import math
import re
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


def next_speed(history: list[tuple[float, int]], target: int, lo: float, hi: float) -> float:
    """Engine speed for the next synthesis pass: secant on measured (speed, length) pairs.

    Length falls roughly as 1/speed but not exactly (pauses and phoneme minima do not scale), so
    the first correction is proportional and later ones use the secant through the last two points.
    """
    s1, n1 = history[-1]
    guess = s1 * n1 / target
    if len(history) >= 2:
        s0, n0 = history[-2]
        if n1 != n0 and s1 != s0:
            secant = s1 + (target - n1) * (s1 - s0) / (n1 - n0)
            if secant > 0 and (min(s0, s1) / 2) < secant < max(s0, s1) * 2:
                guess = secant
    return min(max(guess, lo), hi)


_VOWELS = re.compile(r"[aeiouyáéíóúàèìòùâêîôûäëïöüæøåœ]+", re.IGNORECASE)


def syllables(text: str) -> int:
    """Rough syllable count (vowel groups) for the 'shorten by ~N syllables' hint."""
    return max(1, len(_VOWELS.findall(text)))


def overrun_hint(needed_speed: float, max_speedup: float, text: str) -> str:
    """The editor-facing advice for a line that cannot fit: needed speed and syllables to cut."""
    cut = math.ceil(syllables(text) * (1 - max_speedup / needed_speed)) if needed_speed > 0 else 0
    return f"needs {needed_speed:.2f}x (max {max_speedup:.2f}x); shorten by ~{max(cut, 1)} syllables"
