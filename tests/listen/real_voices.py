"""Real recorded voices with known text, cut into timelines, for the listening tests and benchmark.

The voices are Debian's Asterisk prompt sets, professional recordings of four people (8 kHz,
telephone band): Carlo (a man, Italian, ``asterisk-core-sounds-it-wav``), Menardi (a woman,
Italian, ``asterisk-prompt-it-menardi-wav``), Armelle Desjardins (a woman, French,
``asterisk-prompt-fr-armelle``, GSM) and July Jiménez (a woman, Colombian Spanish,
``asterisk-prompt-es-co``, GSM). Their audio stays in /usr/share/asterisk/sounds (never in the
repository); ``missing()`` says which packages are absent, for a skip with a reason. The Italian
texts are core-sounds-it.txt's, kept only for prompts whose recording says what the list says
(checked with Whisper base: Menardi's set reuses Carlo's file names, not always his wording). The
French and Spanish sets were recorded from their own wording (core-sounds-fr/es.txt, for other
speakers, differ in most prompts): their texts are Whisper base's hearing corrected by hand, so
their WER is a comparison between code versions on the same references, not an absolute figure.

A scene interleaves the voices (women next to women), mixes languages within the timeline, may
put a bed under the lines (synthesised music or pink noise at a given SNR) and writes its media
as 48 kHz WAV or FLAC, or one clip straight from the 8 kHz source file.
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
from listen_speech import edit_distance, pink_noise

SR = 48000
SOURCE_RATE = 8000
SOUNDS = Path("/usr/share/asterisk/sounds")
HANDLE_S, LEAD_S, GAP_S, TAIL_S = 1.0, 0.4, 0.7, 0.4


@dataclass(frozen=True)
class Voice:
    name: str
    folder: str
    ext: str
    lang: str
    gender: str
    package: str


VOICES = {
    "carlo": Voice("carlo", "it_IT_m_Carlo", ".wav", "it", "m", "asterisk-core-sounds-it-wav"),
    "menardi": Voice("menardi", "it_IT_f_Menardi", ".wav", "it", "f", "asterisk-prompt-it-menardi-wav"),
    "armelle": Voice("armelle", "fr", ".gsm", "fr", "f", "asterisk-prompt-fr-armelle"),
    "july": Voice("july", "es", ".gsm", "es", "f", "asterisk-prompt-es-co"),
}

#: voice -> prompt file name -> what it says (the package's prompt list, where the recording agrees).
TEXTS: dict[str, dict[str, str]] = {
    "carlo": {
        "confbridge-unlocked": "La conferenza è ora sbloccata.",
        "unidentified-no-callback": "Non identificato, quindi non può essere richiamato.",
        "conf-now-muted": "La conferenza ora è silenziata.",
        "conf-getchannel": "Prego digitare il numero del canale seguito dal tasto cancelletto.",
        "confbridge-there-are": "Ci sono attualmente...",
        "conf-full": "La conferenza è piena.",
        "vm-marked-nonurgent": "Stato di urgente rimosso.",
        "conf-lockednow": "La conferenza ora è bloccata.",
    },
    "menardi": {
        "confbridge-conf-begin": "La conferenza inizia ora.",
        "confbridge-conf-end": "La conferenza è terminata.",
        "conf-locked": "Questa conferenza è bloccata!",
        "ss-noservice": "Il numero che ha digitato non è in uso. Prego controllare il numero e riprovare.",
        "conf-leaderhasleft": "Il moderatore ha lasciato la conferenza.",
        "conf-otherinparty": "Altri partecipanti alla conferenza.",
        "conf-invalidpin": "Quel pin non è valido per questa conferenza.",
    },
    "armelle": {
        "auth-thankyou": "Merci.",
        "vm-nobodyavail": "Personne n'est disponible pour prendre votre appel en ce moment.",
        "queue-thereare": "Vous êtes en ce moment l'appelant numéro",
        "conf-onlyperson": "Vous êtes pour l'instant la seule personne dans cette conférence.",
        "conf-locked": "Cette conférence est verrouillée.",
        "queue-callswaiting": "En attente de parler à un représentant.",
        "priv-introsaved": "Merci, s'il vous plaît, restez en ligne pendant que j'essaie de connecter votre destinataire.",
    },
    "july": {
        "vm-review": "Presione 1 para aceptar esta grabación, 2 para escucharla o 3 para grabarla de nuevo.",
        "vm-num-i-have": "El número que tengo es",
        "conf-getchannel": "Por favor, ingrese el número del canal seguido por la tecla numeral.",
        "conf-noempty": "En el momento no hay conferencias vacías.",
        "vm-torerecord": "Presione 3 para volver a grabar su mensaje.",
        "vm-mismatch": "Las contraseñas ingresadas son diferentes, por favor intente de nuevo.",
        "pbx-invalid": "Lo sentimos, esa no es una extensión válida, por favor intente de nuevo.",
    },
}


def missing(voices: tuple[str, ...] = tuple(VOICES)) -> str | None:
    """Why real-voice scenes cannot be built here (the Debian packages to install), or None."""
    absent = sorted({VOICES[v].package for v in voices if not (SOUNDS / VOICES[v].folder).is_dir()})
    if not absent:
        return None
    return "real voices not installed: apt-get install " + " ".join(absent)


def load(voice: str, prompt: str) -> np.ndarray:
    """A prompt's recording at its own 8 kHz, mono float32, trimmed of the silence around it."""
    v = VOICES[voice]
    path = SOUNDS / v.folder / f"{prompt}{v.ext}"
    if v.ext == ".gsm":
        import av

        with av.open(str(path), format="gsm") as container:
            pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
        audio = pcm.astype(np.float32) / 32768
    else:
        audio, _ = sf.read(str(path), dtype="float32")
    level = np.abs(audio)
    loud = np.flatnonzero(level > 0.02 * level.max())
    a, b = max(0, int(loud[0]) - 160), min(audio.size, int(loud[-1]) + 160)
    return audio[a:b]


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation or accents, apostrophes split (l'unica -> l unica)."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.findall(r"[a-z0-9]+", text)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate over the reference's words (Levenshtein on words, accents folded)."""
    ref = normalise(reference)
    return edit_distance(ref, normalise(hypothesis)) / max(1, len(ref))


def music(n: int, seed: int) -> np.ndarray:
    """Synthesised music, unit RMS: a plucked-string melody over held chords and a kick, 100 bpm."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    out = np.zeros(n)
    beat = 0.6
    roots = [220.0, 174.6, 261.6, 196.0]  # A F C G
    for k in range(int(n / SR / beat) + 1):
        a = int(k * beat * SR)
        b = min(n, a + int(beat * SR))
        if a >= n:
            break
        seg = t[a:b] - t[a]
        root = roots[(k // 4) % 4]
        for ratio in (1.0, 1.26, 1.5):  # a held triad
            out[a:b] += 0.25 * np.sin(2 * np.pi * root * ratio * seg)
        note = root * 2 * rng.choice([1.0, 1.125, 1.26, 1.5, 1.68])
        pluck = np.exp(-seg * 6) * sum(np.sin(2 * np.pi * note * h * seg) / h for h in (1, 2, 3))
        out[a:b] += 0.6 * pluck
        kick = int(0.12 * SR)
        out[a:a + min(kick, b - a)] += 0.8 * np.sin(2 * np.pi * 55 * seg[:kick]) * np.exp(-seg[:kick] * 30)
    return (out / np.sqrt(np.mean(out**2))).astype(np.float32)


@dataclass
class Line:
    voice: str
    text: str
    lang: str
    onset_s: float = 0.0  # seconds from the timeline start where the speech begins (filled in)


@dataclass
class RealScene:
    path: Path
    rate: Fraction
    clips: list[dict] = field(default_factory=list)  # name, track, record_in, record_out, lines, voice, lang

    @property
    def voices(self) -> set[str]:
        return {c["voice"] for c in self.clips}


def _resample(audio: np.ndarray, rate: int) -> np.ndarray:
    from otio_dub.audio import dsp

    return dsp.resample(audio, rate, SR).astype(np.float32)


def build_real_scene(folder: Path, name: str, clips: list[dict], *, rate: Fraction = Fraction(25),
                     bed: str | None = None, snr_db: float = 10.0, start_tc: str = "10:00:00:00") -> RealScene:
    """Write media and an .otio timeline of real voices.

    ``clips``: in timeline order, each a dict with ``voice``, ``prompts`` (one or more prompt names
    of that voice, 0.7 s apart), optional ``track`` (default ``DIA``), ``media`` (``wav``,
    ``flac`` or ``source``: the 8 kHz recording itself, no bed), ``marker`` (a ``NAME: text``
    marker on the clip), ``metadata``. Clips follow each other 0.5 s apart on their track.
    ``bed``: ``music`` or ``noise`` under every line at ``snr_db`` (speech power over the bed's).
    """
    fps = float(rate)
    folder.mkdir(parents=True, exist_ok=True)
    start = round(otio.opentime.from_timecode(start_tc, fps).value)
    timeline = otio.schema.Timeline(name, global_start_time=otio.opentime.RationalTime(start, fps))
    scene = RealScene(folder / f"{name}.otio", rate)
    tracks: dict[str, otio.schema.Track] = {}
    cursor: dict[str, int] = {}
    at = round(Fraction(1) * rate)
    for n, spec in enumerate(clips):
        voice = VOICES[spec["voice"]]
        kind = spec.get("media", "wav")
        own = SOURCE_RATE if kind == "source" else SR
        gap = np.zeros(int(GAP_S * own), np.float32)
        pieces, lines, offsets = [np.zeros(int(LEAD_S * own), np.float32)], [], []
        for prompt in spec["prompts"]:
            speech = load(spec["voice"], prompt)
            speech = speech if kind == "source" else _resample(speech, SOURCE_RATE)
            offsets.append(sum(p.size for p in pieces))
            pieces += [speech, gap]
            lines.append(Line(spec["voice"], TEXTS[spec["voice"]][prompt], voice.lang))
        pieces[-1] = np.zeros(int(TAIL_S * own), np.float32)
        body = np.concatenate(pieces)
        handle = (np.sin(np.arange(int(HANDLE_S * own)) * 2 * np.pi * 440 / own) * 0.2).astype(np.float32)
        media = np.concatenate([handle, body, np.zeros(own, np.float32)])
        if bed and kind != "source":
            speech_power = float(np.mean(body[body != 0] ** 2)) if np.any(body) else 1e-6
            noise = music(media.size, n) if bed == "music" else pink_noise(media.size, n)
            media = media + noise * np.float32(np.sqrt(speech_power / 10 ** (snr_db / 10)))
        media = (media / max(1.0, float(np.abs(media).max()) / 0.95)).astype(np.float32)
        suffix = ".flac" if kind == "flac" else ".wav"
        file = folder / f"{name}_{n:02d}_{spec['voice']}{suffix}"
        sf.write(file, media, own, subtype="PCM_16")
        origin = round(36000 * fps)
        src_in = origin + round(Fraction(HANDLE_S) * rate)
        length = -(-body.size * rate.numerator // (own * rate.denominator))
        ref = otio.schema.ExternalReference(target_url=file.name, available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(origin, fps), otio.opentime.RationalTime(media.size // own * fps, fps)))
        track_name = spec.get("track", "DIA")
        track = tracks.get(track_name)
        if track is None:
            track = tracks[track_name] = otio.schema.Track(track_name, kind=otio.schema.TrackKind.Audio)
            timeline.tracks.append(track)
            cursor[track_name] = 0
        if at > cursor[track_name]:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                duration=otio.opentime.RationalTime(at - cursor[track_name], fps))))
        clip = otio.schema.Clip(f"{name}_{n:02d}", media_reference=ref, source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(src_in, fps), otio.opentime.RationalTime(length, fps)),
            metadata=spec.get("metadata", {}))
        if spec.get("marker"):
            clip.markers.append(otio.schema.Marker(spec["marker"], otio.opentime.TimeRange(
                otio.opentime.RationalTime(src_in, fps), otio.opentime.RationalTime(1, fps))))
        track.append(clip)
        src_offset = Fraction(src_in - origin) / rate - Fraction(HANDLE_S)
        for line, off in zip(lines, offsets, strict=True):
            line.onset_s = float(Fraction(at) / rate + Fraction(off, own) - src_offset)
        scene.clips.append({"name": clip.name, "track": track_name, "record_in": at, "record_out": at + length,
                            "lines": lines, "voice": spec["voice"], "lang": voice.lang})
        cursor[track_name] = at + length
        at += length + round(Fraction(1, 2) * rate)
    otio.adapters.write_to_file(timeline, str(scene.path))
    return scene
