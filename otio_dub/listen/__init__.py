"""The listening half: the original dialogue of a timeline -> a script, a dialogue list, subtitles.

``transcribe`` decodes each dialogue clip's source range, takes the noise out (DeepFilterNet3),
recognises words with their times (faster-whisper), tells the speakers apart (CAM++ embeddings) and cuts
the words into subtitle events; everything runs offline with the ``listen`` extra installed.
Heavy libraries are imported only inside the functions that need them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio

from ..core.errors import OutputError
from .listening import Progress, Transcript, hear
from .media import ListenError, clip_audio, enhance
from .segment import Event, Rules, Word
from .subtitles import write_dub_subtitles


@dataclass
class TranscribeResult:
    """What ``transcribe`` wrote (files by kind: ass, srt, vtt, csv, json, otio) and what it heard."""

    out_dir: Path
    files: dict[str, Path]
    transcript: Transcript

    @property
    def events(self) -> list[Event]:
        """The subtitle events (one spotted line each)."""
        return self.transcript.events

    @property
    def skipped(self) -> list[str]:
        """Clips whose media could not be read, one line each."""
        return self.transcript.skipped


def transcribe(
    timeline: str | Path | otio.schema.Timeline,
    out_dir: str | Path,
    *,
    model: str | None = None,
    lang: str | None = None,
    speakers: int | None = None,
    enhance: bool = True,
    dialogue_tracks: Sequence[str] = (),
    progress: Progress | None = None,
    name: str | None = None,
    jobs: int | None = 1,
    ray: str | None = None,
) -> TranscribeResult:
    """Transcribe the original dialogue of ``timeline`` into ``out_dir``: ``<name>.ass/.srt/.vtt``,
    ``<name>.csv`` (dialogue list), ``<name>.transcript.json`` and ``<name>.spotted.otio``.

    ``model``: ``tiny.en``/``base`` (bundled), another faster-whisper name already cached, or a
    CTranslate2 folder; default tiny.en for ``lang='en'``, else base. ``speakers``: how many
    voices, when known. ``progress(done, total, clip_name)`` is called after each clip. ``jobs``:
    processes the clips are heard in (1: this one; None: one per core, as ``otio-dub transcribe``), the
    same files whatever the number (spawned workers: a script needs ``if __name__ == "__main__":``).
    ``ray``: the clips heard as Ray tasks (``"local"``, ``"auto"`` or a cluster address), the same files again.
    """
    from .spot import write_outputs

    if isinstance(timeline, otio.schema.Timeline):
        base, stem = None, timeline.name or "timeline"
    else:
        base, stem = Path(timeline).resolve().parent, Path(timeline).stem
    if speakers is not None and speakers < 1:
        raise ListenError(f"--speakers must be at least 1, got {speakers}")
    out = Path(out_dir)
    created = not out.exists()
    try:  # before listening: an unusable folder fails at once, not after the clips are heard
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create output folder ({exc.strerror})") from None
    try:
        heard = hear(timeline, model=model, lang=lang, speakers=speakers, enhance=enhance,
                     dialogue_tracks=dialogue_tracks, progress=progress, jobs=jobs, ray=ray)
    except BaseException:
        if created:  # a run that heard nothing leaves no empty folder behind (only ever an empty one)
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    files = write_outputs(heard, out, name or stem, base)
    return TranscribeResult(out, files, heard)


__all__ = ["Event", "ListenError", "Rules", "TranscribeResult", "Transcript", "Word", "clip_audio", "enhance",
           "hear", "transcribe", "write_dub_subtitles"]
