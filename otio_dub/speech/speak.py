"""Speak one line and fit it to its window: the render stage's unit of work, plus its cache keys.

Pure of file output: a FittedTake comes back as arrays and a report row, so any executor (a local
process, a Ray worker) can run it and hand the result to the driver, which does all writing.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..audio import dsp
from ..core.errors import EngineError, OtioDubError
from ..core.hashing import file_state, make_key
from ..core.timebase import SAMPLE_RATE
from ..dialogue.lines import Line
from ..engines import Engine, VoiceSpec
from ..engines.base import Timing
from . import fit
from .responses import stored_curve

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def pin_onnxruntime_threads() -> None:
    """Make onnxruntime sessions compute on one thread by default, in every process that renders.

    onnxruntime's sums depend on its thread count (piper gives other samples on 1 and 2 threads),
    and the driver, a pool worker and a Ray worker each default to another count; takes must be
    byte-identical whatever executor made them. piper builds its own ``SessionOptions()`` with no
    way to pass threads, so the module attribute is swapped for a subclass defaulting to one thread
    (sessions made earlier keep theirs; this runs when this module is imported, before any engine
    loads). Parallelism comes from the executors (``--jobs``), one line per core.
    """
    if importlib.util.find_spec("onnxruntime") is None:
        return
    import onnxruntime

    if getattr(onnxruntime.SessionOptions, "_otio_dub_one_thread", False):
        return

    class OneThreadOptions(onnxruntime.SessionOptions):
        """SessionOptions whose default is one intra-op and one inter-op thread."""

        _otio_dub_one_thread = True

        def __init__(self) -> None:
            super().__init__()
            self.intra_op_num_threads = 1
            self.inter_op_num_threads = 1

    onnxruntime.SessionOptions = OneThreadOptions


pin_onnxruntime_threads()

#: How a take is made (bumped when the same inputs give other samples): 4 = rate passes read off the voice's
#: response curve, aimed mid-band; resampling in numpy; onnxruntime on one thread. 6 = a take within
#: ``ACCEPT_STRETCH`` of its target is accepted and stretched; takes trimmed at the engine's rate.
#: 7 = the residual stretch (and cast pitch) done at the engine's rate, before resampling. 8 = a stretch to a
#: given length is exactly that ratio (one Rubber Band pass); piper's first pass at its predicted rate.
#: 9 = a residual trim within ``dsp.TRIM_STRETCH`` on Rubber Band's R2 engine.
FIT_MODEL = 9

#: The residual Rubber Band stretch a take may need and still be accepted without another synthesis
#: (a fraction of its length, either way). Each pass saved is a whole synthesis, and a corrected pass
#: cannot aim much closer than this: piper's length answers a speed-up with a few percent of scatter
#: from line to line (whole-frame phoneme durations), so a 2% band sends a third of its lines to a
#: third pass, 3% about one in eight (benchmarks/bench_fit.py). A 3% stretch costs no intelligibility
#: there (tiny.en word error rate flat up to 10%) and keeps the median residual near 1%.
#: A take at most half a frame short of its target is placed as spoken, unstretched.
ACCEPT_STRETCH = 0.03


@dataclass
class Fitted:
    """One line's fitted media (exactly ``media_samples`` long) and its report row."""

    media: np.ndarray
    plan: fit.FitPlan
    report: dict


@dataclass(frozen=True)
class _Goal:
    """What a take is judged against: the line's natural length (measured or predicted) and its plan."""

    natural: int
    plan: fit.FitPlan
    tolerance: int  # half a frame: how far short of its target a take may be and be placed as spoken
    policy: fit.FitPolicy

    @property
    def target(self) -> int:
        return self.plan.speech_samples

    @property
    def aim(self) -> int:
        """Where a corrected pass aims: the middle of the unstretched band."""
        return self.target - self.tolerance // 2

    def error(self, n: int) -> int:
        """How far a take is from its target (the take needing the least residual stretch wins)."""
        return abs(n - self.target)

    def unstretched(self, n: int) -> bool:
        """Placed as spoken: short of its target by half a frame at most, and within the speed bounds."""
        policy = self.policy
        return (n > 0 and 0 <= self.target - n <= self.tolerance
                and policy.max_slowdown - 1e-3 <= self.natural / n <= policy.max_speedup + 1e-3)

    def lands(self, n: int) -> bool:
        """No further pass is worth a synthesis: unstretched, or within ``ACCEPT_STRETCH`` of the target."""
        return self.unstretched(n) or abs(n - self.target) <= ACCEPT_STRETCH * self.target


class _Passes:
    """The passes spoken for one line: trimmed speech at the engine's rate, by relative speed."""

    def __init__(self, engine: Engine, line: Line, voice: VoiceSpec, pace: float) -> None:
        self.engine, self.line, self.voice, self.pace = engine, line, voice, pace
        self.history: list[tuple[float, int]] = []  # (relative speed, speech length at 48 kHz)
        self.takes: dict[float, tuple[np.ndarray, int, int]] = {}  # speech, its rate, the whole take's length

    def speak(self, speed: float) -> int:
        """Speak at ``speed`` relative to the voice's pace; the trimmed take's 48 kHz length."""
        take = self.engine.synthesize(self.line.text, self.voice, speed * self.pace)
        speech = dsp.trim(take.audio, take.sample_rate)
        size = dsp.resampled_size(speech.size, take.sample_rate)
        self.history.append((speed, size))
        self.takes[speed] = (speech, take.sample_rate, take.audio.size)
        return size

    def spoken(self, speed: float) -> bool:
        return any(abs(speed - s) < 1e-4 for s, _ in self.history)


def fit_line(engine: Engine, line: Line, voice: VoiceSpec, window: fit.Window, policy: fit.FitPolicy, tolerance: int,
             *, speed: float = 1.0, semitones: float = 0.0, gain_db: float = 0.0,
             responses: str | Path | None = None) -> Fitted:
    """Speak a line at rates aimed at its window until a take lands, stretch the remainder, place it.

    A take lands when it is at most half of ``tolerance`` (one frame) short of its target, and is
    then placed unstretched (the placed speech still ends within a frame after fades and edges), or
    when the residual stretch it needs is within ``ACCEPT_STRETCH`` either way: no further pass is
    spoken then. An engine that predicts its takes' lengths (``timing``: piper's duration predictor)
    is asked for the rate before the first pass, which then usually lands (:func:`_timed_passes`);
    others speak the line at natural pace first and correct through the voice's duration response
    (:func:`_measured_passes`). The take nearest its target is used, stretched to it exactly unless
    it is in the unstretched band. Takes are trimmed, measured and stretched at the engine's own rate;
    only the one used is resampled to 48 kHz (:func:`dsp.resampled_size` gives its length beforehand).
    ``speed`` is the voice's own pace (cast rate x emotion): "natural" means natural at that pace.
    ``semitones`` shifts pitch (formant-preserving) in the same Rubber Band pass as the residual.
    ``responses`` is where voice responses are kept (:func:`voice_response`).
    """
    passes = _Passes(engine, line, voice, speed)
    timing = getattr(engine, "timing", None) if engine.info.speed_range else None
    timing = timing(line.text, voice, responses) if timing is not None else None
    goal = _timed_passes(passes, timing, window, policy, tolerance // 2) if timing is not None else None
    if goal is None:
        goal = _measured_passes(passes, window, policy, tolerance // 2, responses)
    return _place(passes, goal, window, semitones, gain_db)


def _bounds(passes: _Passes) -> tuple[float, float]:
    """The relative speeds a pass may use: the engine's range over the voice's pace."""
    lo, hi = passes.engine.info.speed_range or (1.0, 1.0)
    return lo / passes.pace, hi / passes.pace


def _measured_passes(passes: _Passes, window: fit.Window, policy: fit.FitPolicy, tolerance: int,
                     responses: str | Path | None) -> _Goal:
    """Speak at natural pace, plan from its length, then correct through the voice's response curve."""
    engine = passes.engine
    natural = next((n for s, n in passes.history if abs(s - 1.0) < 1e-4), None) or passes.speak(1.0)
    if natural == 0:
        raise EngineError(f"{passes.line.origin}: engine {engine.info.name!r} produced no speech for "
                          f"{passes.line.text[:40]!r}")
    goal = _Goal(natural, fit.plan(natural, window, policy), tolerance, policy)
    curve = voice_response(engine, passes.voice, passes.pace, responses) \
        if engine.info.speed_range and policy.passes > 1 else None
    lo, hi = _bounds(passes)
    while engine.info.speed_range and len(passes.history) < policy.passes:
        _, best = min(passes.history, key=lambda h: goal.error(h[1]))
        if goal.lands(best):
            break
        speed = fit.next_speed(passes.history, goal.aim, lo, hi, curve)
        if passes.spoken(speed):
            break
        passes.speak(speed)
    return goal


def _timed_passes(passes: _Passes, timing: Timing, window: fit.Window, policy: fit.FitPolicy,
                  tolerance: int) -> _Goal | None:
    """Plan from the predicted natural length and speak at the predicted rate; correct the prediction
    by each pass's measured length (its trim) for the next. None (measure instead) when the engine's
    prediction is wrong about a take's whole length or predicts no speech."""
    rate = timing.sample_rate

    def expected(speed: float) -> int:
        return dsp.resampled_size(timing.speech(speed * passes.pace), rate)

    if expected(1.0) <= 0:
        return None
    lo, hi = _bounds(passes)
    natural, ratio = expected(1.0), 1.0
    while True:
        goal = _Goal(natural, fit.plan(natural, window, policy), tolerance, policy)
        if passes.history and (len(passes.history) >= policy.passes
                               or goal.lands(min((n for _, n in passes.history), key=goal.error))):
            return goal

        def length(s: float, r: float = ratio) -> float:  # this pass's ratio
            return expected(s) * r

        speed = fit.speed_for(length, goal.aim, lo, hi)
        if passes.spoken(speed):
            return goal
        size, predicted = passes.speak(speed), expected(speed)
        if passes.takes[speed][2] != timing.samples(speed * passes.pace) or size == 0 or predicted <= 0:
            return None
        ratio = size / predicted  # the trim the prediction missed, for the next pass
        near, n = min(passes.history, key=lambda h: abs(math.log(h[0])))  # the pass nearest natural pace
        natural = n if near == 1.0 else round(expected(1.0) * n / expected(near))


def _place(passes: _Passes, goal: _Goal, window: fit.Window, semitones: float, gain_db: float) -> Fitted:
    """Resample the take nearest its target, stretch (and pitch) the residual, place it in the media."""
    rate_speed, measured = min(passes.history, key=lambda h: goal.error(h[1]))
    native, rate, _ = passes.takes[rate_speed]
    plan, target = goal.plan, goal.target
    stretch = 1.0 if goal.unstretched(measured) else measured / target
    fitted_length = target if stretch != 1.0 else measured
    if stretch != 1.0 or semitones:  # at the engine's rate: half the work of stretching at 48 kHz, same band
        native = dsp.time_stretch(native, stretch, rate, length=dsp.native_size(fitted_length, rate), semitones=semitones)
    speech = dsp.resample(native, rate)
    speech = np.pad(speech, (0, fitted_length - speech.size))  # a stretched take: up to a native sample short
    media = np.zeros(plan.media_samples, dtype=np.float32)
    speech = dsp.fade(speech) * np.float32(10 ** (gain_db / 20))
    media[plan.offset: plan.offset + speech.size] = speech[: plan.media_samples - plan.offset]
    first, end = dsp.speech_bounds(media)
    window_end = window.samples - window.tail_pad
    report = {
        "natural_s": round(goal.natural / SAMPLE_RATE, 4),
        "window_s": round(window.speech / SAMPLE_RATE, 4),
        "speech_s": round((end - first) / SAMPLE_RATE, 4),
        "needed_speed": round(plan.needed_speed, 4),
        "rate_factor": round(rate_speed, 4),
        "stretch_factor": round(stretch, 4),
        "total_speed": round(goal.natural / fitted_length, 4),
        "passes": len(passes.history),
        "onset_error_ms": round((first - window.head_pad) / 48, 1),
        "offset_error_ms": round((end - window_end) / 48, 1),
        "borrowed_ms": round(plan.borrowed / 48, 1),
    }
    return Fitted(media, plan, report)


#: Passages a voice's duration response is measured on, by language (others use the English one).
CALIBRATION = {
    "en": ("Yes.", "Where were you when the lights went out?",
           "It was raining the night she left, and nobody in this town has forgotten it since."),
    "fr": ("Oui.", "Où étais-tu quand les lumières se sont éteintes ?",
           "Il pleuvait la nuit où elle est partie, et personne dans cette ville ne l'a oublié depuis."),
    "de": ("Ja.", "Wo warst du, als die Lichter ausgingen?",
           "Es regnete in der Nacht, als sie ging, und niemand in dieser Stadt hat es seitdem vergessen."),
    "es": ("Sí.", "¿Dónde estabas cuando se apagaron las luces?",
           "Llovía la noche en que se fue, y nadie en este pueblo lo ha olvidado desde entonces."),
    "it": ("Sì.", "Dov'eri quando si sono spente le luci?",
           "Pioveva la notte in cui se n'è andata, e nessuno in questa città l'ha più dimenticato."),
    "pt": ("Sim.", "Onde você estava quando as luzes se apagaram?",
           "Chovia na noite em que ela partiu, e ninguém nesta cidade esqueceu isso desde então."),
    "ja": ("はい。", "明かりが消えたとき、どこにいたの？", "彼女が出て行った夜は雨が降っていて、この町の誰もそれを忘れていない。"),
}
#: Speeds (relative to the voice's pace) the passages are spoken at: past the fit's usual range.
CALIBRATION_SPEEDS = (0.7, 0.82, 0.92, 1.0, 1.1, 1.25, 1.45, 1.7)
_responses: dict[tuple, fit.Curve | None] = {}


def voice_response(engine: Engine, voice: VoiceSpec, pace: float = 1.0, store: str | Path | None = None,
                   ) -> fit.Curve | None:
    """How a voice's speech length answers its speed control (``fit.response_curve``).

    Measured on fixed passages (never on the lines of the run), so a take never depends on which
    lines were spoken before it or where: every executor and worker gets the same curve. Kept per
    process, and in ``store`` (the render cache folder) per machine, so a slow voice is measured
    once, not by every worker of every run. None (length as 1/speed) when nothing can be measured.
    """
    memo = (engine.info.name, engine.info.version, voice, round(pace, 6))
    if memo not in _responses:
        passages = CALIBRATION.get(voice.lang.split("-")[0].lower(), CALIBRATION["en"])[1:]
        key = make_key(kind="voice-response", engine=engine.info.name, engine_version=engine.info.version,
                       voice=voice_identity(voice), pace=round(pace, 6), passages=passages,
                       speeds=CALIBRATION_SPEEDS, fit_model=FIT_MODEL)
        _responses[memo] = stored_curve(store, key, lambda: _measure_response(engine, voice, pace, passages))
    return _responses[memo]


def _measure_response(engine: Engine, voice: VoiceSpec, pace: float, passages: tuple[str, ...]) -> fit.Curve | None:
    lo, hi = engine.info.speed_range or (1.0, 1.0)
    measured = []
    try:
        for text in passages:
            points = []
            for relative in CALIBRATION_SPEEDS:
                if lo <= relative * pace <= hi:
                    take = engine.synthesize(text, voice, relative * pace)
                    points.append((relative, dsp.resampled_size(dsp.trim(take.audio, take.sample_rate).size, take.sample_rate)))
            measured.append(points)
    except OtioDubError:  # a voice that cannot speak the passage: the proportional model
        measured = []
    return fit.response_curve(measured)


def fit_reused(fitted: Fitted | None, window: fit.Window, delivery: str) -> Fitted | None:
    """A take from the old dub placed in a moved window, or None when it no longer fits there.

    A moved window at 29.97 can be a sample longer or shorter (1601.6 samples a frame): the take's
    trailing silence absorbs that. A take that borrowed more silence than the new place has is
    refitted instead.
    """
    if fitted is None or fitted.report.get("delivery") != delivery or fitted.plan.status == "overrun":
        return None  # another voice, text or policy; or an overrun that a new place might fit
    plan = fitted.plan
    if plan.media_samples - plan.borrowed != window.samples:
        if abs(plan.media_samples - plan.borrowed - window.samples) > 2 or plan.status not in ("fit", "padded"):
            return None
        size = window.samples
        media = np.pad(fitted.media, (0, max(0, size - fitted.media.size)))[:size]
        plan = replace(plan, media_samples=size)
        return Fitted(media, plan, fitted.report)
    if plan.borrowed > window.free_after:
        return None
    return fitted


def take_key(engine: Engine, text: str, spec: VoiceSpec, speed: float, semitones: float, gain_db: float,
             window: fit.Window, policy: fit.FitPolicy, tolerance: int, delivery: str | None = None) -> str:
    """The render-cache key of a fitted take: everything ``fit_line`` reads, and nothing else.

    The silence after a line only matters up to what may be borrowed (none unless borrowing), so a
    neighbour moving elsewhere in a long pause does not make a take miss. A voice given as a file
    is keyed by its content, not its path text. ``delivery``: :func:`delivery_key` of the same
    arguments, when the caller has it already.
    """
    borrowable = min(window.free_after, policy.max_borrow_ms * 48) if policy.overflow == "borrow" else 0
    if delivery is None:
        delivery = delivery_key(engine, text, spec, speed, semitones, gain_db, policy, tolerance)
    laid = {f.name: getattr(window, f.name) for f in fields(window)}  # flat: asdict's deep copy buys nothing
    return make_key(delivery=delivery, window=dict(laid, free_after=borrowable))


def delivery_key(engine: Engine, text: str, spec: VoiceSpec, speed: float, semitones: float, gain_db: float,
                 policy: fit.FitPolicy, tolerance: int, voice: dict | None = None) -> str:
    """Everything a take depends on but its window: a take may move only when this is unchanged.

    ``voice``: :func:`voice_identity` of ``spec``, when the caller keys many lines in that voice."""
    voice = voice if voice is not None else voice_identity(spec)
    return make_key(engine=engine.info.name, engine_version=engine.info.version, voice=voice, speed=float(speed),
                    semitones=float(semitones), gain_db=float(gain_db), text=text, policy=_fields(policy),
                    tolerance=tolerance, fit_model=FIT_MODEL)


def _fields(value: DataclassInstance) -> dict:
    """``asdict`` of a frozen dataclass, once per value: a feature keys thousands of lines with the
    same few voices and one policy. By its repr, so 2 and 2.0 (equal, but keyed otherwise) are two
    entries. Callers must not change the dict they get."""
    text = f"{type(value).__qualname__}:{value!r}"
    found = _FIELDS.get(text)
    if found is None:
        if len(_FIELDS) > 256:  # a few voices and policies per run: bounded all the same
            _FIELDS.clear()
        found = _FIELDS[text] = asdict(value)
    return found


_FIELDS: dict[str, dict] = {}


def voice_identity(spec: VoiceSpec) -> dict:
    """A voice as keys see it: its fields, a voice given as a file by that file's content."""
    voice = dict(_fields(spec))
    path = Path(spec.voice).expanduser() if spec.voice else None
    if path is not None and path.is_file():
        voice["voice"] = _file_fingerprint(tuple(file_state(part) for part in (path, path.with_name(path.name + ".json"))))
    return voice


@functools.lru_cache(maxsize=16)
def _file_fingerprint(parts: tuple[tuple[str, int, int, int, int], ...]) -> str:
    """SHA-256 of a voice model and its config beside it (same file anywhere = same key), kept by
    :func:`~otio_dub.core.hashing.file_state`: a feature's every line names the same 60 MB model."""
    import hashlib

    digest = hashlib.sha256()
    for name, size, *_ in parts:
        if size >= 0:
            with open(name, "rb") as fh:
                for block in iter(functools.partial(fh.read, 1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class RenderJob:
    """One line to speak and fit: everything a worker needs, picklable, naming the engine (not holding it).

    ``key`` is the render-cache key and ``delivery`` the key of everything but the window; the
    driver uses both, the worker only passes ``delivery`` into the report (conform checks it).
    """

    index: int
    line: Line
    engine: str
    spec: VoiceSpec
    speed: float
    semitones: float
    gain_db: float
    window: fit.Window
    policy: fit.FitPolicy
    tolerance: int
    key: str
    delivery: str
    responses: str = ""  # the render cache folder, where voice responses are kept ("" : measured in memory)

    def portable(self) -> RenderJob:
        """This job as it travels to a worker: the line without its ``extra`` (which holds the OTIO
        clip it came from: not picklable, and nothing the speaking reads)."""
        return replace(self, line=replace(self.line, extra={})) if self.line.extra else self


def render_job(job: RenderJob) -> Fitted:
    """Run one job in this process: the engine is loaded once per process and then shared."""
    from ..engines import get_engine

    fitted = fit_line(get_engine(job.engine), job.line, job.spec, job.window, job.policy, job.tolerance,
                      speed=job.speed, semitones=job.semitones, gain_db=job.gain_db, responses=job.responses or None)
    fitted.report["delivery"] = job.delivery  # what conform checks before moving this take
    return fitted
