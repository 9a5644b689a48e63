"""The cast file: one voice per character, chosen once for the whole dub.

```toml
[characters.ANNA]
engine = "piper"      # any engine of `otio-dub engines`
voice = "joe"         # engine voice id (espeak: a language with +variant, piper: name or .onnx path)
lang = "en-us"        # the character's language when the line does not name one
rate = 1.0            # speed multiplier on the voice's natural pace
pitch = 0.0           # semitones, formant-preserving (tells characters apart on a shared voice)
gain = 0.0            # dB
emotion = "neutral"   # default emotion of the character's lines
speaker = 0           # multi-speaker voices only
model = "kokoro-v1.0.onnx"   # kokoro only: a full model and its voices file (default: the Japanese one)
voices = "voices-v1.0.bin"
gender = "female"     # or voice_type: automatic voices never cross it (female/male, also F/M, woman/man)
```

Errors name the cast file and the entry (``cast.toml: [characters.ANNA]: ...``); entries keep the
file they came from (``source``) so later checks against an engine can name it too.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..core.errors import InputError
from ..dialogue.prosody import EMOTIONS
from ..dialogue.script import GENDER_WORDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class CastEntry:
    """One character's voice as the cast file gives it (unset fields fall back to defaults)."""

    character: str
    engine: str | None = None
    voice: str | None = None
    lang: str | None = None
    rate: float = 1.0
    pitch: float = 0.0
    gain: float = 0.0
    emotion: str | None = None
    speaker: int | None = None
    model: str | None = None
    voices: str | None = None
    gender: str | None = None  # "female" / "male": automatic casting keeps to it
    source: str | None = field(default=None, compare=False)  # the cast file, for error messages

    def where(self) -> str:
        """How errors name this entry: ``cast.toml: [characters.ANNA]`` (``cast entry 'ANNA'`` in code)."""
        return f"{self.source}: [characters.{self.character}]" if self.source else f"cast entry {self.character!r}"

    def extra(self) -> tuple[tuple[str, str], ...]:
        """Engine settings beyond the voice (kokoro's model files), resolved against the cast's folder."""
        base = Path(self.source).parent if self.source else Path()
        return tuple((key, str(base / Path(value).expanduser())) for key, value in
                     (("model", self.model), ("voices", self.voices)) if value)


_TYPES: dict[str, type | tuple[type, ...]] = {"engine": str, "voice": str, "lang": str, "rate": (int, float), "pitch": (int, float),
          "gain": (int, float), "emotion": str, "speaker": int, "model": str, "voices": str, "gender": str, "voice_type": str}


def parse_cast(text: str, source: str = "cast") -> dict[str, CastEntry]:
    """Cast entries by character from TOML text; errors name the file and the character."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(source, f"not valid TOML ({exc})") from None
    unknown_tables = sorted(set(data) - {"characters"})
    if unknown_tables:
        raise InputError(source, f"unknown section(s) {', '.join(unknown_tables)}; characters go under [characters.NAME]")
    characters = data.get("characters", {})
    if not isinstance(characters, dict) or not characters:
        raise InputError(source, "no [characters.NAME] entries")
    cast = {}
    for name, entry in characters.items():
        where = f"[characters.{name}]"
        if not isinstance(entry, dict):
            raise InputError(source, "must be a table of settings", where=where)
        for key, value in entry.items():
            if key not in _TYPES:
                close = difflib.get_close_matches(key, list(_TYPES), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(_TYPES)})"
                raise InputError(source, f"unknown setting {key!r}{hint}", where=where)
            if isinstance(value, bool) or not isinstance(value, _TYPES[key]):
                raise InputError(source, f"{key} = {value!r} has the wrong type", where=where)
        if "rate" in entry and not 0.3 <= entry["rate"] <= 3.0:
            raise InputError(source, f"rate = {entry['rate']} is outside 0.3-3.0", where=where)
        if "gain" in entry and not -60 <= entry["gain"] <= 24:  # also rejects nan and inf
            raise InputError(source, f"gain = {entry['gain']} dB is outside -60..24", where=where)
        if "pitch" in entry and not -12 <= entry["pitch"] <= 12:
            raise InputError(source, f"pitch = {entry['pitch']} semitones is outside -12..12", where=where)
        emotion = entry.get("emotion")
        if emotion is not None and emotion.lower() not in EMOTIONS:
            raise InputError(source, f"unknown emotion {emotion!r} (known: {', '.join(EMOTIONS)})", where=where)
        values = {f.name: entry[f.name] for f in fields(CastEntry) if f.name in entry and f.name in _TYPES}
        for key in ("gender", "voice_type"):
            if key in entry:
                if entry[key].strip().lower() not in GENDER_WORDS:
                    raise InputError(source, f"{key} = {entry[key]!r}: say female or male", where=where)
                values["gender"] = GENDER_WORDS[entry[key].strip().lower()]
        for key in ("rate", "pitch", "gain"):
            if key in values:
                values[key] = float(values[key])
        cast[name] = CastEntry(character=name, source=source, **values)
    return cast


def load_cast(path: str | Path) -> dict[str, CastEntry]:
    """Read a cast file (TOML)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "cast file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read cast file ({exc})") from None
    return parse_cast(text, str(path))


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def starter_cast(entries: list[CastEntry], comments: Mapping[str, str] | None = None) -> str:
    """A cast file to edit: one table per character with every setting written out.

    ``comments`` (by character) go on a line above the character's table: why it got its voice.
    """
    comments = comments or {}
    out = [
        "# otio-dub cast: one voice per character. Engines: `otio-dub engines`; voices: `otio-dub voices ENGINE`.",
        "# rate: speed multiplier; pitch: semitones (formant-preserving); gain: dB;",
        f"# emotion: {', '.join(EMOTIONS)}; speaker: multi-speaker voices only.",
    ]
    for entry in entries:
        out.append("")
        if entry.character in comments:
            out.append(f"# {comments[entry.character]}")
        out.append(f"[characters.{_toml_str(entry.character)}]")
        for key in ("engine", "voice", "lang", "gender", "rate", "pitch", "gain", "emotion", "model", "voices"):
            value = getattr(entry, key)
            if value is None and key == "emotion":
                value = "neutral"
            if value is not None:
                out.append(f"{key} = {_toml_str(value) if isinstance(value, str) else value}")
        if entry.speaker is not None:
            out.append(f"speaker = {entry.speaker}")
    return "\n".join(out) + "\n"
