"""What ``otio-dub translate`` writes: the bilingual dialogue list, the translated subtitles and a JSON
report, each whole or not at all; and the hand-corrected list a re-run keeps (``--keep``)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..audio.bwf import write_text_atomic
from ..core.errors import InputError
from ..core.timebase import TimeBase
from ..dialogue.lines import Line
from ..dialogue.script import EMOTIONS, SCRIPT_SUFFIXES, clean_text, extract_emotion, split_speaker
from ..speech.fit import FitPolicy
from .adapt import Adapted, Translation
from .layout import break_lines

COLUMNS = ("TC IN", "TC OUT", "CHARACTER", "ORIGINAL", "TRANSLATION", "LANG", "BUDGET_S", "PREDICTED_S", "SPEED", "FLAG")


def bilingual_list(result: Translation, tb: TimeBase) -> str:
    """The bilingual dialogue list (CSV) as adaptation houses exchange it; ``dub --script`` reads it back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in result.rows:
        ln = row.line
        text = f"[{ln.emotion}] {ln.text}" if ln.emotion and ln.emotion != "neutral" else ln.text
        writer.writerow([tb.tc(ln.record_in), tb.tc(ln.record_out), ln.character, row.original, text, ln.lang,
                         f"{row.budget_s:.2f}", f"{row.predicted_s:.2f}", f"{row.speed:.2f}", "; ".join(row.flags)])
    return out.getvalue()


def read_keep(path: str | Path) -> dict[tuple[str, str, str], str]:
    """A bilingual list written earlier (maybe corrected by hand): (TC IN, TC OUT, ORIGINAL) -> TRANSLATION."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file to keep translations from not found")
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise InputError(str(path), f"not CSV ({exc})") from None
    header = [h.strip().upper() for h in rows[0]] if rows else []
    if not {"TC IN", "TC OUT", "ORIGINAL", "TRANSLATION"} <= set(header):
        raise InputError(str(path), "not a bilingual list of otio-dub translate: it needs the columns "
                         "TC IN, TC OUT, ORIGINAL, TRANSLATION", where="line 1")
    col = {name: header.index(name) for name in ("TC IN", "TC OUT", "ORIGINAL", "TRANSLATION")}
    kept = {}
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(col.values()):
            raise InputError(str(path), f"{len(row)} cells, {len(header)} columns in the header", where=f"line {number}")
        _, text = extract_emotion(row[col["TRANSLATION"]], f"{path}: line {number}")
        text = clean_text(text)
        if text:
            kept[(row[col["TC IN"]].strip(), row[col["TC OUT"]].strip(), row[col["ORIGINAL"]].strip())] = text
    return kept


def event_number(line: Line) -> int | None:
    """The script event a line came from: ``scene.ass event 3`` (a script beside a timeline) or the
    ``event`` its clip carries (a script read as the timeline)."""
    origin = line.origin.rsplit(" event ", 1)
    if len(origin) == 2 and origin[1].isdigit():
        return int(origin[1])
    clip = line.extra.get("clip")
    meta = clip.metadata.get("otio_dub") if clip is not None else None
    number = meta.get("event") if meta is not None and hasattr(meta, "get") else None
    return int(number) if isinstance(number, int) else None


def _event_text(original: str, style: str | None, character: str | None, translated: str, emotion: str | None,
                fmt: str) -> str:
    """A subtitle event's new text: the original's speaker prefix and emotion tag kept, lines re-broken."""
    had, body = extract_emotion(original.replace(r"\N", " "), "subtitle")
    prefixed, _ = split_speaker(clean_text(body))
    tag = f"[{emotion}] " if emotion and had and (style or "").strip().lower() != emotion else ""
    broken = (r"\N" if fmt == "ass" else "\n").join(break_lines(translated))
    prefix = f"{prefixed}: " if prefixed else ""
    return prefix + tag + broken


def translated_subtitles(result: Translation, tb: TimeBase, script: Path | None) -> dict[str, str]:
    """The translation as ASS, SRT and VTT text: the source script itself where there is one (styles,
    names, times, comments kept, each event's text replaced), else one event per line."""
    import pysubs2

    by_event: dict[int, Adapted] = {}
    if script is not None and script.suffix.lower() in SCRIPT_SUFFIXES:
        subs = pysubs2.load(str(script), encoding="utf-8-sig")
        for row in result.rows:
            if (number := event_number(row.line)) is not None:
                by_event[number] = row
    else:
        subs = pysubs2.SSAFile()
        subs.styles["Default"] = pysubs2.SSAStyle(fontname="Arial", fontsize=48)
        for number, row in enumerate(result.rows, 1):
            ms = [round(float(f) * 1000 / float(tb.rate)) for f in (row.line.record_in, row.line.record_out)]
            tag = f"[{row.line.emotion}]" if row.line.emotion else ""
            subs.append(pysubs2.SSAEvent(start=ms[0], end=ms[1], text=tag, name=row.line.character))
            by_event[number] = row
    out = {}
    for fmt in ("ass", "srt", "vtt"):
        copy = pysubs2.SSAFile.from_string(subs.to_string("ass"), format_="ass")
        copy.info["Title"] = f"{subs.info.get('Title', script.stem if script else 'otio-dub')} ({result.target})"
        for number, event in enumerate(copy.events, 1):
            found = by_event.get(number)
            if found is None or event.is_comment:
                continue
            emotion = found.line.emotion if found.line.emotion in EMOTIONS else None
            event.text = _event_text(subs.events[number - 1].text, event.style, found.line.character,
                                     found.line.text, emotion, fmt)
            if fmt == "vtt" and event.name and not split_speaker(found.line.text)[0]:
                event.text = f"<v {event.name}>" + event.text
        out[fmt] = copy.to_string(fmt)
    return out


def report(result: Translation, tb: TimeBase, policy: FitPolicy) -> str:
    """The run as JSON: translator, prediction, and per line budget, chosen length, speed and flags."""
    rows = [{"id": r.line.id, "tc_in": tb.tc(r.line.record_in), "tc_out": tb.tc(r.line.record_out),
             "character": r.line.character, "original": r.original, "translation": r.line.text,
             "budget_s": round(r.budget_s, 3), "predicted_s": round(r.predicted_s, 3), "speed": round(r.speed, 3),
             "first_translation": r.first_text, "first_speed": round(r.first_speed, 3), "candidates": r.candidates,
             "within_bounds": r.within(policy), "flags": list(r.flags)} for r in result.rows]
    return json.dumps({"source": result.source, "target": result.target, "translator": result.translator,
                       "literal": result.literal, "prediction": result.prediction,
                       "speed_bounds": [policy.max_slowdown, policy.max_speedup], "lines": rows},
                      indent=1, ensure_ascii=False) + "\n"


def write_outputs(result: Translation, tb: TimeBase, out_dir: Path, stem: str, script: Path | None,
                  policy: FitPolicy) -> list[Path]:
    """Write ``<stem>.<lang>.csv/.ass/.srt/.vtt/.translate.json`` into ``out_dir`` (all made before any is written)."""
    texts = {"csv": bilingual_list(result, tb), **translated_subtitles(result, tb, script),
             "translate.json": report(result, tb, policy)}
    return [write_text_atomic(Path(out_dir) / f"{stem}.{result.target}.{ext}", text) for ext, text in texts.items()]
