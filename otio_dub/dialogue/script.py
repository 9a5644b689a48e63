"""Dialogue scripts (SRT, ASS/SSA, VTT) -> ScriptEvent, through pysubs2.

Only this module opens script files. Times stay integer milliseconds, as pysubs2 keeps them;
``lines.py`` turns them into frames on the timeline's clock. Text hygiene lives here too: markup,
speaker prefixes and emotion tags are removed before anything reaches an engine.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError
from .prosody import EMOTIONS as PROSODY

log = logging.getLogger("otio_dub")

#: Emotion tags understood in ``[brackets]`` inside the text or as an ASS style name.
EMOTIONS = tuple(PROSODY)
SCRIPT_SUFFIXES = (".srt", ".ass", ".ssa", ".vtt")

_SPEAKER = re.compile(r"^\s*-?\s*([A-Za-z\u00C0-\u024F][\w .'\-]{0,30}?)\s*:\s+(?=\S)")
_TAG = re.compile(r"\[([^\[\]]*)\]")
_HTML = re.compile(r"</?[a-zA-Z][^>]*>")
_VTT_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")
_CUE_TIMING = re.compile(r"^\s*(\d+:)?\d{1,2}:\d{2}[,.]\d{1,3}\s*-->\s*(\d+:)?\d{1,2}:\d{2}[,.]\d{1,3}(\s.*)?$")


#: How a cast, a clip or a dialogue list may say a character's gender (``gender``, ``voice_type``): -> female / male.
GENDER_WORDS = {"female": "female", "woman": "female", "f": "female", "girl": "female", "feminine": "female",
                "male": "male", "man": "male", "m": "male", "boy": "male", "masculine": "male",
                # voice types a casting sheet uses for the same thing
                "soprano": "female", "mezzo": "female", "mezzo-soprano": "female", "alto": "female",
                "contralto": "female", "tenor": "male", "baritone": "male", "bass": "male"}


def normal_gender(value: object) -> str | None:
    """``"F"``, ``"woman"``, ``"female"`` -> ``"female"`` (and likewise male); None for anything else."""
    return GENDER_WORDS.get(str(value).strip().lower()) if value is not None else None

@dataclass(frozen=True)
class ScriptEvent:
    """One spoken event of a script: 1-based event number, times in ms, cleaned text."""

    number: int
    start_ms: int
    end_ms: int
    text: str
    character: str | None
    emotion: str | None
    style: str | None
    lang: str | None = None
    gender: str | None = None  # the character's, from a dialogue list's GENDER column


def split_speaker(text: str) -> tuple[str | None, str]:
    """``'ANNA: Hello'`` -> ``('ANNA', 'Hello')``; text without a speaker prefix is returned as is."""
    match = _SPEAKER.match(text)
    if not match or len(match.group(1).split()) > 3:
        return None, text
    return match.group(1).strip(), text[match.end():]


def extract_emotion(text: str, where: str) -> tuple[str | None, str]:
    """Remove ``[tags]`` and stage directions from the text (nested brackets too); the first known
    emotion tag is returned, unknown ones warn: none of them is ever spoken."""
    emotion = None
    while _TAG.search(text):
        for tag in _TAG.findall(text):
            key = tag.strip().lower()
            if key in EMOTIONS:
                emotion = emotion or key
            elif key:
                log.warning("%s: unknown tag [%s] removed (known: %s)", where, tag, ", ".join(EMOTIONS))
        text = _TAG.sub(" ", text)
    return emotion, text


def clean_text(text: str) -> str:
    """Plain speakable text: no HTML tags, line breaks as spaces, whitespace collapsed."""
    text = _HTML.sub("", text).replace("\\N", " ").replace("\\n", " ").replace("\\h", " ")
    return " ".join(text.split())


def _line_of(path: Path, needle: str) -> str:
    for number, text in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        if needle.strip() and needle.strip() in text:
            return f"line {number}"
    return "unknown line"


def _check_cue_timings(path: Path) -> None:
    """SRT/VTT: every '-->' line must be a well-formed timing (pysubs2 silently drops bad cues)."""
    for number, text in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        if "-->" in text and not _CUE_TIMING.match(text):
            raise InputError(str(path), f"malformed timestamp line {text.strip()!r}", where=f"line {number}")


def _vtt_voices(path: Path) -> list[str | None]:
    """The ``<v Name>`` speaker of each WebVTT cue, in cue order (pysubs2 strips voice tags)."""
    voices: list[str | None] = []
    in_cue = False
    for text in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        if "-->" in text:
            voices.append(None)
            in_cue = True
        elif not text.strip():
            in_cue = False
        elif in_cue and voices[-1] is None and (match := _VTT_VOICE.search(text)):
            voices[-1] = match.group(1).strip()
    return voices


def read_script(path: str | Path) -> list[ScriptEvent]:
    """Every dialogue event of a subtitle script, in file order. Raises InputError on bad input."""
    import pysubs2

    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "script file not found")
    if not path.read_bytes().strip():
        raise InputError(str(path), "the script is empty: no dialogue events")
    try:
        if path.suffix.lower() in (".srt", ".vtt"):
            _check_cue_timings(path)
        subs = pysubs2.load(str(path), encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (pysubs2.exceptions.Pysubs2Error, ValueError, KeyError, IndexError) as exc:
        raise InputError(str(path), f"cannot parse script: {exc}") from None
    voices = _vtt_voices(path) if path.suffix.lower() == ".vtt" else []
    events: list[ScriptEvent] = []
    for number, event in enumerate(subs.events, start=1):
        if event.is_comment:
            continue
        where = f"{path}: event {number} ({pysubs2.time.ms_to_str(event.start, fractions=True)})"
        style = event.style if path.suffix.lower() in (".ass", ".ssa") else None
        if "-->" in event.plaintext:  # pysubs2 folds a malformed SRT/VTT cue into the previous text
            bad = next(t for t in event.plaintext.splitlines() if "-->" in t)
            raise InputError(str(path), f"malformed timestamp line {bad.strip()!r}", where=_line_of(path, bad))
        character = (event.name or "").strip() or None
        voice_tag = voices[number - 1] if number - 1 < len(voices) else None
        emotion, raw = extract_emotion(event.plaintext, where)
        prefixed, raw = split_speaker(clean_text(raw))
        character = character or prefixed or voice_tag
        if emotion is None and style and style.strip().lower() in EMOTIONS:
            emotion = style.strip().lower()
        text = clean_text(raw)
        if event.end < event.start:
            raise InputError(str(path), "ends before it starts", where=f"event {number}")
        events.append(ScriptEvent(number, event.start, event.end, text, character, emotion, style))
    if not events:
        raise InputError(str(path), "the script has no dialogue events")
    return events
