"""Speech with known text, placed as clip media in timelines, for the listening tests and benchmark.

Voices: piper's bundled joe and two espeak variants (m3, f4). Each clip's media file holds a
second of other material before the clip's source-in, so a decoder that ignores the source range
hears the wrong thing. Noisy scenes add pink noise at 5 dB SNR and use .mov media (PyAV's path).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import soundfile as sf

SR = 48000
HANDLE_S = 1.0  # media before the clip's source-in
LEAD_S = 0.5  # silence inside the clip before the speech

VOICES = {
    "joe": ("piper", {"voice": "joe", "lang": "en-us"}),
    "m3": ("espeak", {"voice": "en+m3", "lang": "en"}),
    "f4": ("espeak", {"voice": "en+f4", "lang": "en"}),
    "m1": ("espeak", {"voice": "en+m1", "lang": "en"}),
    "f1": ("espeak", {"voice": "en+f1", "lang": "en"}),
}


@dataclass
class Utterance:
    voice: str
    text: str
    onset_s: float = 0.0  # seconds from the timeline start where the speech begins (filled in)


@dataclass
class Scene:
    path: Path
    rate: Fraction
    start_frame: int
    clips: list[dict] = field(default_factory=list)  # name, track, record_in, record_out (frames), utterances

    @property
    def utterances(self) -> list[Utterance]:
        return sorted((u for c in self.clips for u in c["utterances"]), key=lambda u: u.onset_s)


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation (numbers as written)."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def tokens(text: str, lang: str) -> list[str]:
    """What WER counts in any language: NFKC, lower case, punctuation dropped (combining marks
    kept); characters for Japanese and Chinese (CER), words otherwise."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch if ch.isalnum() or ch.isspace() or unicodedata.category(ch) in ("Mn", "Mc") else " " for ch in text)
    return [ch for ch in text if not ch.isspace()] if lang.split("-")[0] in ("ja", "zh") else text.split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two token lists (the edits a recogniser's words need)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level Levenshtein distance over the reference length."""
    ref = normalise(reference)
    return edit_distance(ref, normalise(hypothesis)) / max(1, len(ref))


def speak(voice: str, text: str) -> np.ndarray:
    """48 kHz speech of ``text`` in ``voice``, trimmed to its sound."""
    from otio_dub.audio import dsp
    from otio_dub.engines import VoiceSpec, get_engine

    engine, spec = VOICES[voice]
    take = get_engine(engine).synthesize(text, VoiceSpec(**spec))
    return dsp.trim(dsp.resample(take.audio, take.sample_rate))


def pink_noise(n: int, seed: int) -> np.ndarray:
    """Pink (1/f) noise, unit RMS: closer to room tone and traffic than white noise."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(1.0, np.arange(spectrum.size)))
    noise = np.fft.irfft(spectrum, n)
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def add_noise(audio: np.ndarray, speech: slice, snr_db: float, seed: int) -> np.ndarray:
    """``audio`` plus pink noise at ``snr_db`` relative to the speech's power."""
    power = float(np.mean(audio[speech].astype(np.float64) ** 2))
    noise = pink_noise(audio.size, seed) * np.float32(np.sqrt(power / 10 ** (snr_db / 10)))
    return (audio + noise).astype(np.float32)


def write_mov(path: Path, audio: np.ndarray, rate: int = SR) -> None:
    """A QuickTime file with one PCM audio stream (what an editor's camera or export hands over)."""
    import av

    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
    with av.open(str(path), "w", format="mov") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        for i in range(0, pcm.shape[1], 4800):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, i:i + 4800]), format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def build_scene(folder: Path, name: str, rate: Fraction, start_tc: str, tracks: dict[str, list[dict]],
                noisy: bool = False, drop_frame: bool = False) -> Scene:
    """Write media and an .otio timeline. ``tracks``: track name -> clips, each a dict with
    ``at`` (seconds from the timeline start), ``say`` (list of (voice, text)), optional ``marker``,
    ``metadata``. Utterances in one clip are separated by 0.9 s of silence."""
    fps = float(rate)
    start = otio.opentime.from_timecode(start_tc, fps)
    start_frame = round(start.value)
    folder.mkdir(parents=True, exist_ok=True)
    timeline = otio.schema.Timeline(name, global_start_time=otio.opentime.RationalTime(start_frame, fps))
    scene = Scene(folder / f"{name}.otio", rate, start_frame)
    seed = 0
    for track_name, clips in tracks.items():
        track = otio.schema.Track(track_name, kind=otio.schema.TrackKind.Audio)
        cursor = 0
        for n, spec in enumerate(clips):
            seed += 1
            pieces, utterances, offsets = [np.zeros(int(LEAD_S * SR), np.float32)], [], []
            for voice, text in spec["say"]:
                offsets.append(sum(p.size for p in pieces))
                speech = speak(voice, text)
                pieces += [speech, np.zeros(int(0.9 * SR), np.float32)]
                utterances.append(Utterance(voice, text))
            body = np.concatenate(pieces)
            at = round(Fraction(spec["at"]) * rate)
            length = -(-body.size * rate.numerator // (SR * rate.denominator))  # whole frames covering the body
            handle = np.sin(np.arange(int(HANDLE_S * SR)) * 2 * np.pi * 440 / SR).astype(np.float32) * 0.3
            media = np.concatenate([handle, body, np.zeros(SR, np.float32)])
            if noisy:
                media = add_noise(media, slice(handle.size, handle.size + body.size), 5.0, seed)
            suffix = ".mov" if noisy else ".wav"
            file = folder / f"{name}_{track_name.replace(' ', '_')}_{n}{suffix}"
            if noisy:
                write_mov(file, media)
            else:
                sf.write(file, media, SR, subtype="FLOAT")
            # the file's own time starts at 10:00:00:00; the clip's source-in is HANDLE_S into it
            origin = round(36000 * fps)
            src_in = origin + round(Fraction(HANDLE_S) * rate)
            # the clip's source-in is HANDLE_S seconds into the file only up to frame rounding: correct the onsets
            src_offset = Fraction(src_in - origin) / rate - Fraction(HANDLE_S)
            ref = otio.schema.ExternalReference(target_url=file.name, available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(origin, fps), otio.opentime.RationalTime(round(media.size / SR * fps), fps)))
            if at > cursor:
                track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(at - cursor, fps))))
            clip = otio.schema.Clip(f"{track_name}_{n}", media_reference=ref, source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(src_in, fps), otio.opentime.RationalTime(length, fps)),
                metadata=spec.get("metadata", {}))
            if spec.get("marker"):
                clip.markers.append(otio.schema.Marker(spec["marker"], otio.opentime.TimeRange(
                    otio.opentime.RationalTime(src_in, fps), otio.opentime.RationalTime(1, fps))))
            track.append(clip)
            for u, off in zip(utterances, offsets, strict=True):
                u.onset_s = float(Fraction(at) / rate + Fraction(off, SR) - src_offset)
            scene.clips.append({"name": clip.name, "track": track_name, "record_in": at, "record_out": at + length,
                                "utterances": utterances})
            cursor = at + length
        timeline.tracks.append(track)
    if drop_frame:
        timeline.metadata["otio_dub"] = {"drop_frame": True}
    otio.adapters.write_to_file(timeline, str(scene.path))
    return scene
