"""Stems and delivery: which lines go into which stem, their loudness, and the optional full mix.

A stem is exactly the timeline's length and starts at its start timecode (bext TimeReference), so
it lands in place when imported by timecode. Every stem of a render is written in one streamed
pass over the timeline (:func:`render_stems`), with its loudness and true peak: those the loudness
plan derived already (:mod:`otio_dub.delivery.character_levels`), the others measured as it is written.

Loudness (:func:`plan_loudness`) sets one gain per character for the whole programme, never per
line: first every character is brought to the target on its own (measured BS.1770 over the whole
programme, silence gated out), then one common gain brings the DIALOGUE sum to the target, lowered
if the DIALOGUE's 4x-oversampled true peak would pass the limit (the report then says the limit,
not the target, set the level). Both measurements stream; nothing holds the programme in memory.

``dub`` bakes the character gain into the delivered line media too, so the dub tracks an editor
imports play at the level of the stems. ``restem`` (the ``otio-dub stems`` command) re-renders
the stems from a dub timeline as edited in the NLE; it reads line media and never rewrites them.
"""

from __future__ import annotations

import json
import logging
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import opentimelineio as otio

from ..audio.bwf import BLOCK, BwfWriter, Placement, mix_spans, read_bext, write_text_atomic
from ..audio.loudness import Loudness, Meter, TruePeak, channel_weights, loudness_of, prefetch, to_db
from ..core.errors import InputError, OtioDubError, OutputError
from ..core.threads import available_cores, read_ahead
from ..core.timebase import SAMPLE_RATE
from .character_levels import CharacterLevels, dialogue_peaks, measure_characters, mix_peaks
from .stem_reuse import MANIFEST as STEMS_MANIFEST
from .stem_reuse import STEMS_VERSION, inputs_key, link_into, load_manifest, mix_identity, reusable

if TYPE_CHECKING:
    from soundfile import SoundFile

log = logging.getLogger("otio_dub")

STEM_MODES = ("character", "language", "none")
DEFAULT_LOUDNESS = -27.0
DEFAULT_TRUE_PEAK = -2.0
#: The level is aimed this far under the true-peak limit, so 24-bit rounding never reads over it.
_TRUE_PEAK_MARGIN_DB = 0.01
#: Dialogue into a stereo M&E: both channels at -3 dB (loudness-neutral phantom centre, BS.775).
_STEREO_DIALOGUE = 10 ** (-3.0103 / 20)
_DIALOGUE_CHANNEL = {1: 0, 6: 2, 8: 2}  # mono, 5.1 and 7.1 (L R C LFE ...): the centre
MANIFEST = "stems.json"

Key = tuple[str, str]  # (language, character)


@dataclass(frozen=True)
class StemOptions:
    """What to deliver besides the line media: which stems, loudness target (None: off), true-peak
    limit, the M&E for a full mix, and how many threads measure and write them (None: every core)."""

    mode: str = "character"
    loudness: float | None = DEFAULT_LOUDNESS
    true_peak: float = DEFAULT_TRUE_PEAK
    mix_with: Path | None = None
    jobs: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in STEM_MODES:
            raise ValueError(f"stems must be one of {', '.join(STEM_MODES)}, not {self.mode!r}")
        if self.loudness is not None and not -60.0 <= self.loudness <= -5.0:
            raise ValueError(f"loudness target {self.loudness} LKFS is out of range (-60 to -5, or off)")
        if not -30.0 <= self.true_peak <= 0.0:
            raise ValueError(f"true-peak limit {self.true_peak} dBTP is out of range (-30 to 0)")
        if self.jobs is not None and self.jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {self.jobs}")

    @property
    def threads(self) -> int:
        """Threads for the streamed passes: ``jobs``, or every core this process may use."""
        return self.jobs or available_cores()


def stem_names(keys: set[Key], several_langs: bool) -> dict[Key, str]:
    """A file-safe, unique stem name per (lang, character); DIALOGUE, MIX and language stems are kept."""
    taken = {"dialogue", "mix"} | {language_stem(lang).lower() for lang, _ in keys}
    names = {}
    for lang, character in sorted(keys):
        base = re.sub(r"[^\w\- ]+", "_", f"{lang}_{character}" if several_langs else character).strip() or "UNNAMED"
        name, n = base, 1
        while name.lower() in taken:  # case-insensitive: macOS and Windows file systems are
            n += 1
            name = f"{base}_{n}"
        taken.add(name.lower())
        names[(lang, character)] = name
    return names


def language_stem(lang: str) -> str:
    return "DIALOGUE_" + (re.sub(r"[^\w\-]+", "_", lang) or "UND")


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoudnessPlan:
    """One gain per (language, character) and how it was chosen."""

    target: float
    limit: float
    gains_db: dict[Key, float]
    set_by: str  # "target", "true_peak", or "unmeasured" (nothing above the gate: no gain)
    dialogue: float  # the DIALOGUE loudness the gains give, LKFS
    dialogue_true_peak: float  # and its true peak, dBTP (NaN until the stems render measures it, where it could not bind)
    measured: dict[Key, float]  # each character's own loudness before any gain, LKFS
    inputs: str = ""  # the key of what it was measured from (stem_reuse.inputs_key)
    levels: _Levels | None = field(default=None, compare=False, repr=False)  # measured here, not read back

    def linear(self, key: Key) -> float:
        return 10 ** (self.gains_db.get(key, 0.0) / 20)


@dataclass(frozen=True)
class StemFile:
    name: str
    path: Path
    measured: Loudness
    channels: int = 1
    gain_db: float | None = None  # the character gain, for a character's own stem


@dataclass
class StemsResult:
    """What a stems render wrote and measured."""

    mode: str
    time_reference: int
    files: dict[str, StemFile] = field(default_factory=dict)
    plan: LoudnessPlan | None = None
    names: dict[Key, str] = field(default_factory=dict)

    def paths(self) -> dict[str, Path]:
        return {name: f.path for name, f in self.files.items()}

    def report(self, root: Path) -> dict:
        """The report.json / stems.json section: per stem path, loudness, true peak, gain."""

        def rel(path: Path) -> str:
            try:
                return path.relative_to(root).as_posix()
            except ValueError:
                return str(path)

        plan = None
        if self.plan is not None:
            p = self.plan
            plan = {
                "standard": "ITU-R BS.1770-4 (true peak: 4x oversampled, Annex 2)",
                "target_lkfs": p.target, "true_peak_limit_dbtp": p.limit, "level_set_by": p.set_by,
                "dialogue_lkfs": _round(p.dialogue), "dialogue_true_peak_dbtp": _round(p.dialogue_true_peak),
                "gains_db": {self.names.get(k, f"{k[0]}_{k[1]}"): round(g, 2) + 0.0 for k, g in p.gains_db.items()},
                "measured_lkfs": {self.names.get(k, f"{k[0]}_{k[1]}"): _round(v) for k, v in p.measured.items()},
            }
        files = {name: {"path": rel(f.path), "channels": f.channels, **f.measured.as_dict(),
                        "gain_db": None if f.gain_db is None else round(f.gain_db, 2) + 0.0}
                 for name, f in self.files.items()}
        return {"mode": self.mode, "time_reference": self.time_reference, "sample_rate": SAMPLE_RATE,
                "loudness": plan, "files": files}


def _round(x: float) -> float | None:
    return round(x, 2) + 0.0 if math.isfinite(x) else None  # + 0.0: never print -0.0


# ---------------------------------------------------------------------------------------------
# the M&E for a full mix
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixSource:
    """A checked M&E file: its channels, length and where it starts (bext time, if it has one)."""

    path: Path
    channels: int
    frames: int
    time_reference: int | None


def check_mix_with(path: str | Path) -> MixSource:
    """Open the M&E before any work is done: readable, 48 kHz, mono/stereo/5.1/7.1. One-line errors."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "M&E file not found (--mix-with)")
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(str(path), f"cannot read the M&E as audio ({detail})") from None
    if info.samplerate != SAMPLE_RATE:
        raise InputError(str(path), f"M&E is {info.samplerate} Hz; stems and mix are {SAMPLE_RATE} Hz "
                                    "(resample it to 48 kHz first, e.g. sox IN -r 48000 OUT)")
    if info.channels not in (1, 2, 6, 8):
        raise InputError(str(path), f"M&E has {info.channels} channels; mono, stereo, 5.1 or 7.1 can be mixed")
    if info.frames == 0:
        raise InputError(str(path), "M&E has no audio")
    try:
        reference = read_bext(path).time_reference
    except (ValueError, OSError):
        reference = None  # not a WAV (FLAC, AIFF...): assumed to start at the timeline start
    return MixSource(path, info.channels, info.frames, reference)


def _mix_offset(mix: MixSource, time_reference: int, total: int) -> int:
    """Where the M&E's first sample falls on the stems; warns when it does not cover the timeline."""
    offset = 0 if mix.time_reference is None else mix.time_reference - time_reference
    end = offset + mix.frames
    if end <= 0 or offset >= total:
        raise InputError(str(mix.path), f"M&E (bext time {mix.time_reference}) does not overlap the timeline "
                                        f"(samples {time_reference}-{time_reference + total})")
    gaps = []
    if offset > 0:
        gaps.append(f"starts {offset / SAMPLE_RATE:.3f} s after the timeline start")
    if end < total:
        gaps.append(f"ends {(total - end) / SAMPLE_RATE:.3f} s before the timeline end")
    if gaps:
        log.warning("%s: M&E %s; the mix has no M&E there", mix.path.name, " and ".join(gaps))
    elif mix.time_reference is None and mix.frames != total:
        log.warning("%s: M&E has no bext timecode and is %.3f s longer than the timeline; taken from its first "
                    "sample and cut at the timeline end", mix.path.name, (mix.frames - total) / SAMPLE_RATE)
    return offset


# ---------------------------------------------------------------------------------------------
# loudness plan and the stems render
# ---------------------------------------------------------------------------------------------


def plan_loudness(placements: Sequence[tuple[str, str, Placement]], total: int, options: StemOptions,
                  block: int = BLOCK, previous: Path | None = None) -> LoudnessPlan:
    """One gain per (language, character): equal loudness each, then DIALOGUE on target or on the limit.

    One streamed pass over the line media measures each character (:func:`measure_characters`); the
    DIALOGUE's loudness at any gains follows from it. Its true peak takes a second pass only where the
    characters' peaks could reach the limit; else the DIALOGUE stem measures it as it is written
    (:func:`_completed`). Loudness follows a common gain exactly (gates included, see
    SegmentEnergies.gain_for) and true peak scales with it, so no further pass is needed.
    ``previous``: an earlier dub's output folder; its plan is taken when made from the same inputs.
    """
    if options.loudness is None:
        raise ValueError("loudness is off")
    key = inputs_key("loudness-plan", placements, total=total, target=options.loudness, limit=options.true_peak)
    manifest = load_manifest(previous / "stems" if previous is not None else None)
    if manifest.get("plan_inputs") == key and (known := _plan_from(manifest.get("loudness_plan"), key)) is not None:
        return known
    return replace(_measure_plan(placements, total, options, block), inputs=key)


def _keys(placements: Sequence[tuple[str, str, Placement]]) -> list[Key]:
    """The (language, character) pairs of ``placements``, in order of first appearance."""
    return list(dict.fromkeys((lang, character) for lang, character, _ in placements))


def _measure_plan(placements: Sequence[tuple[str, str, Placement]], total: int, options: StemOptions,
                  block: int) -> LoudnessPlan:
    target, limit = options.loudness, options.true_peak
    assert target is not None  # plan_loudness refuses a plan with loudness off
    keys = _keys(placements)
    groups = [[p for lang, character, p in placements if (lang, character) == key] for key in keys]
    levels = measure_characters(groups, total, block, workers=options.threads)
    measured = {key: levels.character(i).integrated() for i, key in enumerate(keys)}
    # gain_for, not target - level: a gain moves blocks across the absolute gate, which moves the relative
    # gate, so the gained media would measure off target (and `otio-dub stems` would re-level them)
    relative = {key: (levels.character(i).gain_for(target) if math.isfinite(measured[key]) else 0.0)
                for i, key in enumerate(keys)}
    weights = [10 ** (relative[key] / 20) for key in keys]
    energies = levels.mix(weights)
    if not math.isfinite(energies.integrated()):
        log.warning("dialogue has nothing above the -70 LKFS gate: no loudness gain applied")
        peak = to_db(mix_peaks(groups, total, weights, block)[0])
        return LoudnessPlan(target, limit, {k: 0.0 for k in keys}, "unmeasured", energies.integrated(), peak, measured)
    common = energies.gain_for(target)
    peaks = _dialogue_peaks(groups, total, weights, levels, limit - _TRUE_PEAK_MARGIN_DB - common,
                            options.mode != "none", block)
    set_by, true_peak = "target", math.nan
    if peaks is not None:
        true_peak = to_db(peaks[0])
        if common > limit - _TRUE_PEAK_MARGIN_DB - true_peak:
            common, set_by = limit - _TRUE_PEAK_MARGIN_DB - true_peak, "true_peak"
    level = energies.scaled(common).integrated()
    gains = {key: relative[key] + common for key in keys}
    if set_by == "true_peak":
        log.warning("the true-peak limit (%.1f dBTP) set the dialogue level: DIALOGUE %.1f LKFS, %.1f LU under "
                    "the %.1f LKFS target", limit, level, target - level, target)
    scale = 10 ** (common / 20)
    dialogue_peaks = (peaks[0] * scale, peaks[1] * scale) if peaks is not None else None
    return LoudnessPlan(target, limit, gains, set_by, level, true_peak + common, measured,
                        levels=_Levels(keys, levels, dialogue_peaks))


def _dialogue_peaks(groups: list[list[Placement]], total: int, weights: list[float], levels: CharacterLevels,
                    headroom: float, deferrable: bool, block: int) -> tuple[float, float] | None:
    """The DIALOGUE's (true, sample) peak at ``weights``, linear; None when it cannot reach the limit
    (``headroom`` dB over it, at the relative gains) and the DIALOGUE stem, measuring it as it is
    written, will tell. The bound: the mix's true peak is at most the sum of its parts' (weighted)."""
    bound = sum(w * peak for w, peak in zip(weights, levels.peaks, strict=True))
    if deferrable and to_db(bound) <= headroom:
        return None
    return dialogue_peaks(groups, total, weights, levels, block)


def _completed(plan: LoudnessPlan | None, files: dict[str, StemFile]) -> LoudnessPlan | None:
    """``plan`` with the DIALOGUE's true peak measured by the stems render, where the plan left it
    to that render (it could not bind the level)."""
    if plan is None or not math.isnan(plan.dialogue_true_peak) or "DIALOGUE" not in files:
        return plan
    return replace(plan, dialogue_true_peak=files["DIALOGUE"].measured.true_peak)


@dataclass(frozen=True)
class _Levels:
    """What the plan measured, kept for the stems render so that it need not measure again."""

    keys: list[Key]
    characters: CharacterLevels
    dialogue_peaks: tuple[float, float] | None  # the DIALOGUE's true and sample peak at the plan's gains, linear

    def known(self, plan: LoudnessPlan, keys: list[Key]) -> dict[Key | str, Loudness]:
        """Each character stem's and the DIALOGUE's measurement at the plan's gains (the same keys only;
        the DIALOGUE's peaks NaN where the plan left them to the render)."""
        if keys != self.keys:
            return {}
        gains = [plan.linear(key) for key in keys]
        known: dict[Key | str, Loudness] = {key: self.characters.loudness(i, gains[i]) for i, key in enumerate(keys)}
        known["DIALOGUE"] = loudness_of(self.characters.mix(gains), *(self.dialogue_peaks or (math.nan, math.nan)))
        return known


class _Output:
    """One stem being written and measured, unless ``known``: what the loudness plan measured already
    (its peaks NaN: those alone are measured here)."""

    def __init__(self, name: str, path: Path, writer: BwfWriter, channels: int, gain_db: float | None,
                 known: Loudness | None = None) -> None:
        self.name, self.path, self.writer, self.channels, self.gain_db = name, path, writer, channels, gain_db
        self.meter = Meter(SAMPLE_RATE, channels, channel_weights(channels)) if known is None else None
        self.peaks = TruePeak(channels) if known is not None and math.isnan(known.true_peak) else None
        self.clipped = 0
        self.measured: Loudness | None = known

    def write(self, block: np.ndarray) -> None:
        if self.measured is None or not self.measured.sample_peak <= 0.0:  # known under full scale: nothing clips
            self.clipped += int(np.count_nonzero(np.abs(block) > 1.0))
        self.writer.write(block)
        if self.meter is not None:
            self.meter.feed(block)
        if self.peaks is not None:
            self.peaks.feed(block)

    def silence(self, n: int) -> None:
        """``n`` samples of silence: neither computed nor measured sample by sample."""
        self.writer.write_silence(n)
        if self.meter is not None:
            self.meter.feed_silence(n)
        if self.peaks is not None:
            self.peaks.feed_silence(n)

    def finish(self) -> Loudness:
        """The stem's measurement (measured now, unless known), also written into its bext chunk."""
        if self.meter is not None:
            self.measured = self.meter.result()
        assert self.measured is not None  # a stem without a meter came with its measurement
        if self.peaks is not None:
            self.measured = replace(self.measured, true_peak=to_db(self.peaks.finish()),
                                    sample_peak=to_db(self.peaks.sample_peak))
        self.writer.set_loudness(self.measured)
        return self.measured


def render_stems(folder: Path, placements: Sequence[tuple[str, str, Placement]], total: int, time_reference: int,
                 title: str, options: StemOptions, plan: LoudnessPlan | None = None, mix: MixSource | None = None,
                 block: int = BLOCK, known: dict[Key | str, Loudness] | None = None) -> StemsResult:
    """Write the stems (and the full mix) into ``folder`` in one streamed pass, measuring each one
    the loudness plan has not measured already.

    Character stems (``--stems character``), one stem per language when there are several, the
    ``DIALOGUE`` sum, and ``MIX`` (dialogue over the M&E) when ``mix`` is given. ``plan`` gains are
    applied while mixing; files appear only when every stem is complete. ``known``: measurements of
    character stems (by key) and ``"DIALOGUE"`` made already (the loudness plan's), not made again;
    by default those of ``plan``.
    """
    keys = _keys(placements)
    langs = list(dict.fromkeys(lang for lang, _ in keys))
    names = stem_names(set(keys), several_langs=len(langs) > 1)
    result = StemsResult(options.mode, time_reference, plan=plan, names=names)
    gains = {key: plan.linear(key) if plan else 1.0 for key in keys}
    groups = [[replace(p, gain=p.gain * gains[key]) for lang, character, p in placements if (lang, character) == key]
              for key in keys]
    if mix is not None:
        mix_offset = _mix_offset(mix, time_reference, total)
    outputs: list[_Output] = []
    source = None

    if known is None:
        known = plan.levels.known(plan, keys) if plan is not None and plan.levels is not None else {}

    def add(name: str, channels: int = 1, gain_db: float | None = None, measured: Loudness | None = None) -> _Output:
        path = folder / f"{name}.wav"
        what = "full mix (dialogue over M&E)" if name == "MIX" else f"{name} stem"
        out = _Output(name, path, BwfWriter(path, time_reference, f"otio-dub {what} of {title}"[:256],
                                            channels=channels), channels, gain_db, measured)
        outputs.append(out)
        return out

    try:
        by_key = {}
        if options.mode == "character":
            by_key = {key: add(names[key], gain_db=plan.gains_db[key] if plan else None, measured=known.get(key))
                      for key in keys}
        by_lang = {lang: add(language_stem(lang)) for lang in langs} if options.mode != "none" and len(langs) > 1 else {}
        dialogue = add("DIALOGUE", measured=known.get("DIALOGUE")) if options.mode != "none" else None
        mixed = add("MIX", mix.channels) if mix is not None else None
        if mix is not None:
            import soundfile as sf

            source = sf.SoundFile(str(mix.path))
        spans = mix_spans(groups, total, block)
        for b0, buf, n in read_ahead(spans) if options.threads > 1 else spans:  # read the next while this is written
            if buf is None:  # nobody speaks: silence for the dialogue stems, the M&E alone for the mix
                for out in outputs:
                    if out is not mixed:
                        out.silence(n)
                if mixed is not None and source is not None and mix is not None:
                    for m0 in range(b0, b0 + n, block):
                        quiet = np.zeros(min(block, b0 + n - m0), dtype=np.float32)
                        mixed.write(_mix_block(source, mix, mix_offset, m0, quiet))
                continue
            for i, key in enumerate(keys):
                if key in by_key:
                    _write(by_key[key], buf[i])
            for lang, out in by_lang.items():
                _write(out, sum(buf[i] for i, key in enumerate(keys) if key[0] == lang))
            speech = buf.sum(axis=0)
            if dialogue is not None:
                dialogue.write(speech)
            if mixed is not None and source is not None and mix is not None:
                mixed.write(_mix_block(source, mix, mix_offset, b0, speech))
        for out in outputs:
            out.finish()
    except BaseException:
        for out in outputs:
            out.writer.abort()
        raise
    finally:
        if source is not None:
            source.close()
    try:
        for out in outputs:
            out.writer.close()
    except OtioDubError:
        for out in outputs:
            out.writer.abort()
        raise
    for out in outputs:
        assert out.measured is not None
        result.files[out.name] = StemFile(out.name, out.path, out.measured, out.channels, out.gain_db)
        if out.clipped:
            log.warning("%s: %d samples over full scale were clipped (true peak %.1f dBTP)",
                        out.path.name, out.clipped, out.measured.true_peak)
    result.plan = _completed(plan, result.files)
    return result


def _write(out: _Output, signal: np.ndarray) -> None:
    """A block for one stem; a character silent all through it costs nothing (stems overlap little)."""
    if signal.any():
        out.write(signal)
    else:
        out.silence(signal.size)


def _mix_block(source: SoundFile, mix: MixSource, offset: int, b0: int, speech: np.ndarray) -> np.ndarray:
    """The M&E's samples under stem samples [b0, b0 + n) plus the dialogue in its channel(s)."""
    n = speech.shape[0]
    out = np.zeros((n, mix.channels), dtype=np.float32)
    first, last = max(0, b0 - offset), min(mix.frames, b0 + n - offset)
    if last > first:
        source.seek(first)
        at = first + offset - b0
        out[at: at + last - first] = source.read(last - first, dtype="float32", always_2d=True)
    if mix.channels == 2:
        out += (speech * np.float32(_STEREO_DIALOGUE))[:, None]
    else:
        out[:, _DIALOGUE_CHANNEL[mix.channels]] += speech
    return out


# ---------------------------------------------------------------------------------------------
# re-rendering from an edited dub timeline
# ---------------------------------------------------------------------------------------------

def restem(timeline: str | Path | otio.schema.Timeline, out_dir: str | Path, options: StemOptions | None = None,
           base_dir: str | Path | None = None) -> StemsResult:
    """Re-render the stems of a dub timeline as it is now (moved, trimmed, deleted, disabled clips).

    Reads any OTIO-readable file (.otioz bundles are unpacked to a temporary folder for the render,
    .otiod bundles read in place); relative media paths are relative to the timeline file's folder
    (the bundle for .otioz/.otiod) or ``base_dir``. Writes ``<stem>.wav`` and ``stems.json`` (the
    loudness report) into ``out_dir``; stems a previous ``stems.json`` there listed and this render
    does not produce are removed, nothing else in the folder is touched. Line media are only read.
    """
    from ..timelines.dub_timeline import dub_placements
    from ..timelines.timeline_io import read_timeline

    options = options or StemOptions()
    out = Path(out_dir)
    mix = check_mix_with(options.mix_with) if options.mix_with else None
    if options.mode == "none" and mix is None:
        raise InputError("--stems", "'none' with no --mix-with leaves nothing to render")
    prefetch()  # the meter's filters import on another core while the timeline and its media are read
    with tempfile.TemporaryDirectory(prefix=".otio-dub-bundle-") as unpacked:
        if isinstance(timeline, otio.schema.Timeline):
            source, name, base = timeline, timeline.name or "timeline", Path(base_dir or Path.cwd())
        else:
            path = Path(timeline)
            name = path.name.split(".")[0] or "timeline"
            if path.suffix.lower() in (".fcpxml", ".fcpxmld"):  # OTIO's reader skips storyline gaps/titles and media-reps
                raise InputError(str(path), "OTIO's FCPXML reader drops the storyline's gaps and titles (the programme's "
                                            "length) and FCPXML 1.9+ media, so stems would come out short or silent: "
                                            "render the stems from the .dub.otio written beside it")
            if path.suffix.lower() == ".edl":
                raise InputError(str(path), "an EDL holds one track and no programme start or length: render the "
                                            "stems from the .dub.otio written beside it (or FCP7 XML, AAF)")
            if path.suffix.lower() == ".otioz":
                base = _unpack(path, Path(unpacked))
                source = read_timeline(base / "content.otio")
            else:
                source = read_timeline(path)
                base = Path(base_dir) if base_dir else path.resolve() if path.is_dir() else path.resolve().parent
        tb, total, placements = dub_placements(source, base)
        plan = plan_loudness(placements, total, options) if options.loudness is not None else None
        previous = _manifest_files(out)
        result = render_stems(out, placements, total, tb.start_sample, name, options, plan, mix)
    report = {"timeline": name, "rate": str(tb.rate), "start": tb.tc(0), "duration_samples": total,
              "clips": len(placements), **result.report(out)}
    write_text_atomic(out / MANIFEST, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    remove_stale(out, previous, result)
    return result


def _unpack(bundle: Path, into: Path) -> Path:
    """An .otioz bundle's timeline and media, extracted so its media can be read."""
    import zipfile

    try:
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(into)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(str(bundle), f"cannot unpack the .otioz bundle ({exc})") from None
    if not (into / "content.otio").is_file():
        raise InputError(str(bundle), "not an .otioz bundle (no content.otio inside)")
    return into


def dub_stems(out: Path, placements: Sequence[tuple[str, str, Placement]], total: int, time_reference: int,
              title: str, options: StemOptions, plan: LoudnessPlan | None, mix: MixSource | None,
              previous: Path | None = None) -> StemsResult:
    """The stems of a dub into ``out/stems`` (line media already carry ``plan``'s gains), with their
    manifest ``stems/stems.json`` (the key of their inputs and their exact measurements).

    ``previous``: an earlier dub's output folder (may be ``out`` itself). When its stems were made
    from the same inputs they are linked from there instead of rendered: a warm re-dub costs a hash
    of the line media. Stems the previous report.json in ``out`` listed and this dub does not
    produce are removed.
    """
    stale = [Path(p).name for p in _manifest_files(out, "report.json", "stems")]
    folder = out / "stems"
    names = stem_names({(lang, c) for lang, c, _ in placements}, len({lang for lang, _, _ in placements}) > 1)
    if options.mode == "none" and mix is None:
        result = StemsResult(options.mode, time_reference, plan=plan, names=names)
        remove_stale(folder, stale, result)
        return result
    key = inputs_key("stems", placements, total=total, time_reference=time_reference, title=title, mode=options.mode,
                     mix=mix_identity(mix.path if mix else None), mix_channels=mix.channels if mix else None)
    old = previous / "stems" if previous is not None else None
    manifest = reusable(old, key)
    if manifest is not None and old is not None and old.resolve() != folder.resolve():
        result = _relinked(old, folder, manifest, options.mode, time_reference, names)
    elif manifest is not None:  # the stems are already in this very folder
        result = _relinked(folder, folder, manifest, options.mode, time_reference, names)
    else:
        known = plan.levels.known(plan, _keys(placements)) if plan is not None and plan.levels is not None else None
        result = render_stems(folder, placements, total, time_reference, title, options, None, mix, known=known)
    plan = _completed(plan, result.files)
    result.plan = plan
    if plan is not None:  # the gains are in the media; report them with the character stems
        for k, name in result.names.items():
            if name in result.files:
                result.files[name] = replace(result.files[name], gain_db=plan.gains_db[k])
    _write_manifest(folder, key, plan, result)
    remove_stale(folder, stale, result)
    return result


def _relinked(old: Path, folder: Path, manifest: dict, mode: str, time_reference: int,
              names: dict[Key, str]) -> StemsResult:
    """The stems listed in ``manifest`` linked from ``old`` into ``folder``, measured as recorded."""
    result = StemsResult(mode, time_reference, names=names)
    for name, entry in manifest["files"].items():
        path = folder / entry["file"]
        if old.resolve() != folder.resolve():
            link_into(old / entry["file"], path)
        result.files[name] = StemFile(name, path, _loudness_from(entry["measured"]), int(entry["channels"]))
    log.info("stems unchanged since the last dub into this folder: reused, not rendered")
    return result


def _write_manifest(folder: Path, key: str, plan: LoudnessPlan | None, result: StemsResult) -> None:
    """stems/stems.json: the inputs' keys, the exact loudness plan and each stem's exact measurements."""
    files = {name: {"file": f.path.name, "bytes": f.path.stat().st_size, "channels": f.channels,
                    "measured": {k: _finite_or_none(v) for k, v in asdict(f.measured).items()}}
             for name, f in result.files.items()}
    manifest = {"otio_dub_stems": STEMS_VERSION, "inputs": key, "plan_inputs": plan.inputs if plan else None,
                "loudness_plan": _plan_dict(plan) if plan else None, "files": files}
    write_text_atomic(folder / STEMS_MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None  # exact (repr) floats; -inf is "nothing to measure"


def _loudness_from(measured: dict) -> Loudness:
    return Loudness(**{k: -math.inf if v is None else float(v) for k, v in measured.items()})


def _plan_dict(plan: LoudnessPlan) -> dict:
    return {"target": plan.target, "limit": plan.limit, "set_by": plan.set_by,
            "dialogue": _finite_or_none(plan.dialogue), "dialogue_true_peak": _finite_or_none(plan.dialogue_true_peak),
            "gains_db": [[k[0], k[1], v] for k, v in plan.gains_db.items()],
            "measured": [[k[0], k[1], _finite_or_none(v)] for k, v in plan.measured.items()]}


def _plan_from(data: object, key: str) -> LoudnessPlan | None:
    """A plan recorded by :func:`_write_manifest` (None when the record is not one)."""
    if not isinstance(data, dict):
        return None
    try:
        return LoudnessPlan(float(data["target"]), float(data["limit"]),
                            {(lang, c): float(v) for lang, c, v in data["gains_db"]}, str(data["set_by"]),
                            -math.inf if data["dialogue"] is None else float(data["dialogue"]),
                            -math.inf if data["dialogue_true_peak"] is None else float(data["dialogue_true_peak"]),
                            {(lang, c): -math.inf if v is None else float(v) for lang, c, v in data["measured"]}, key)
    except (TypeError, KeyError, ValueError):
        return None


def _manifest_files(folder: Path, name: str = MANIFEST, section: str | None = None) -> list[str]:
    try:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        files = (data.get(section) or {} if section else data).get("files", {})
        return [str(f["path"]) for f in files.values()]
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return []


def remove_stale(folder: Path, previous: Sequence[str], result: StemsResult) -> None:
    """Delete stems an earlier render into ``folder`` wrote and this one did not (ours only, by name)."""
    produced = {f.path.resolve() for f in result.files.values()}
    for rel in previous:
        path = (folder / rel).resolve()
        if path.parent == folder.resolve() and path.suffix == ".wav" and path not in produced and path.is_file():
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise OutputError(f"{path}: cannot remove a stale stem ({exc.strerror})") from None
