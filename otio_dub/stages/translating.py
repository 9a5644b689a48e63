"""``translate()``: a script, dialogue list or timeline's lines into another language, fitted to each window.

The library call behind ``otio-dub translate``: read the input as ``dub`` reads it, find its lines,
translate them with the length-aware chooser of ``otio_dub.translation``, and write the bilingual list,
the translated subtitles and the report (all made before any is written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.timebase import TimeBase
from ..speech.fit import FitPolicy
from ..timelines.timeline_io import read_timeline
from ..translation.adapt import Translation, translate_lines
from ..translation.files import read_keep, write_outputs
from ..translation.glossary import read_glossary
from .options import DubOptions
from .plan import cast_of, collect_lines


@dataclass
class TranslateResult:
    """What ``translate()`` did: the translation (rows per line, with budget, length, speed, flags), the
    timeline's clock, the folder and the files written."""

    translation: Translation
    tb: TimeBase
    out: Path
    files: list[Path] = field(default_factory=list)


def translate(input_file: str | Path, target: str, out_dir: str | Path | None = None, *,
              script: str | Path | None = None, source: str | None = None, translator: str | None = None,
              glossary: str | Path | None = None, keep: str | Path | None = None, fit: bool = True,
              options: DubOptions | None = None) -> TranslateResult:
    """Translate the lines of ``input_file`` (with ``script``) into ``target``, each fitted to its window
    for the voice ``options`` would cast; write ``<name>.<lang>.csv/.ass/.srt/.vtt/.translate.json``."""
    options = options or DubOptions(lang=source or "en")
    input_file = Path(input_file)
    timeline = read_timeline(input_file, options.rate, options.start, options.drop_frame)
    tb, lines = collect_lines(timeline, script, options, where=str(input_file))
    policy: FitPolicy = options.policy
    result = translate_lines(lines, tb, target, source=source, translator=translator,
                             glossary=read_glossary(glossary) if glossary else (), cast=cast_of(options),
                             engine=options.engine_choice, policy=policy, cache=options.cache,
                             keep=read_keep(keep) if keep else None, fit=fit)
    out = Path(out_dir) if out_dir is not None else Path.cwd() / f"{input_file.stem}_{result.target}"
    files = write_outputs(result, tb, out, input_file.stem, Path(script) if script else input_file, policy)
    return TranslateResult(result, tb, out, files)
