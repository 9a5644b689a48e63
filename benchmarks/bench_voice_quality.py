"""Voice quality benchmark: every voice speaks a fixed sentence set per language; Whisper base reads it back.

Per engine voice and language: WER (CER for Japanese and Chinese) of Whisper base (the bundled
multilingual model, int8, beam 5) against the sentences below, the real-time factor of synthesis,
and the speed control's fit: how far the trimmed length at speed 0.8 and 1.25 (first sentence) misses length(1.0) /
speed (median |error|). Also each voice's median F0 (YIN) over everything it said, which checks
the gender its name gives. Kokoro is also tried where it is refused (de, hi, zh: the verdict in
docs/voices.md), by feeding its model espeak-ng IPA directly.

    python benchmarks/bench_voice_quality.py [--langs en,es,...] [--write]

``--write`` keeps the figures in otio_dub/engines/voice_measures.py, which automatic casting reads.
"""

from __future__ import annotations

import argparse
import os
import pprint
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from otio_dub.audio import dsp
from otio_dub.audio.pitch import f0_track
from otio_dub.engines import VoiceSpec, get_engine
from otio_dub.engines.voice_quality import key

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "listen"))
from listen_speech import edit_distance, tokens  # noqa: E402 - the suite's WER, one copy

#: The published sentence set: five everyday dubbing lines per language (no digits: read as words).
SENTENCES = {
    "en": ["Where were you last night?", "The last train was cancelled, so I walked home.",
           "I promised my sister that I would call her tomorrow.", "Nobody in this town remembers the old lighthouse.",
           "Please close the window before the rain comes in."],
    "es": ["¿Dónde estabas anoche?", "El último tren fue cancelado, así que volví a casa caminando.",
           "Le prometí a mi hermana que la llamaría mañana.", "Nadie en este pueblo recuerda el viejo faro.",
           "Por favor, cierra la ventana antes de que entre la lluvia."],
    "fr": ["Où étais-tu hier soir ?", "Le dernier train a été annulé, alors je suis rentré à pied.",
           "J'ai promis à ma sœur de l'appeler demain.", "Personne dans cette ville ne se souvient du vieux phare.",
           "Ferme la fenêtre avant que la pluie n'entre, s'il te plaît."],
    "it": ["Dove eri ieri sera?", "L'ultimo treno è stato cancellato, così sono tornato a piedi.",
           "Ho promesso a mia sorella che l'avrei chiamata domani.", "Nessuno in questo paese ricorda il vecchio faro.",
           "Per favore, chiudi la finestra prima che entri la pioggia."],
    "pt": ["Onde você estava ontem à noite?", "O último trem foi cancelado, então voltei para casa a pé.",
           "Prometi à minha irmã que ligaria para ela amanhã.", "Ninguém nesta cidade se lembra do velho farol.",
           "Por favor, feche a janela antes que a chuva entre."],
    "de": ["Wo warst du gestern Abend?", "Der letzte Zug fiel aus, also bin ich zu Fuß nach Hause gegangen.",
           "Ich habe meiner Schwester versprochen, sie morgen anzurufen.", "Niemand in dieser Stadt erinnert sich an den alten Leuchtturm.",
           "Bitte schließ das Fenster, bevor der Regen hereinkommt."],
    "hi": ["कल रात तुम कहाँ थे?", "आखिरी ट्रेन रद्द हो गई, इसलिए मैं पैदल घर गया।",
           "मैंने अपनी बहन से वादा किया कि मैं उसे कल फ़ोन करूँगा।", "इस शहर में कोई भी पुराने प्रकाशस्तंभ को याद नहीं करता।",
           "कृपया बारिश आने से पहले खिड़की बंद कर दो।"],
    "zh": ["你昨天晚上去哪儿了？", "最后一班火车取消了，所以我走回家了。", "我答应我妹妹明天给她打电话。",
           "这个镇上没有人记得那座旧灯塔。", "请在下雨之前把窗户关上。"],
    "ja": ["昨日の夜はどこにいたの？", "最終電車が運休になったので、歩いて帰りました。", "明日電話すると妹に約束しました。",
           "この町の誰も古い灯台のことを覚えていません。", "雨が入る前に窓を閉めてください。"],
}
ESPEAK_LANG = {"en": "en-us", "es": "es", "fr": "fr", "it": "it", "pt": "pt-br", "de": "de", "hi": "hi", "zh": "cmn", "ja": "ja"}
KOKORO_REFUSED = ("de", "hi", "zh")  # one voice each, through the model directly (hi, zh are refused by the engine)
#: Three of the five bundled styles (two female, the male one): a full run of all five takes an hour here.
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jm_kumo")
ESPEAK_VARIANTS = ("+m3", "+f4")  # one male, one female per language; every variant's F0 in English below
CHARS = ("ja", "zh")  # scored by characters


def error_rate(refs: list[str], heard: list[str], lang: str) -> float:
    """Corpus WER (CER for ja/zh): total edits over total reference tokens."""
    edits = sum(edit_distance(tokens(r, lang), tokens(h, lang)) for r, h in zip(refs, heard, strict=True))
    return edits / max(1, sum(len(tokens(r, lang)) for r in refs))


def to_chinese_simplified(text: str) -> str:
    """Whisper often writes Mandarin in traditional characters: map those of the set back."""
    return text.translate(str.maketrans("後車們這個鎮記兒關請還趕",
                                        "后车们这个镇记儿关请还赶"))


def speaker(engine_name: str, voice: str | None, lang: str):
    """A function text, speed -> (24/22 kHz take, seconds to make it), bypassing kokoro's refusals."""
    engine = get_engine(engine_name)
    if engine_name == "kokoro" and lang in KOKORO_REFUSED:
        from otio_dub.engines.espeak_ipa import phonemes

        model = engine._kokoro(VoiceSpec(voice=voice, lang="en"))

        def say(text: str, speed: float) -> tuple[np.ndarray, int, float]:
            t0 = time.perf_counter()
            audio, rate = model.create(phonemes(text, ESPEAK_LANG[lang]), voice=voice, speed=speed, is_phonemes=True)
            return np.asarray(audio, np.float32), rate, time.perf_counter() - t0
        return say
    spec = VoiceSpec(voice=voice, lang=ESPEAK_LANG[lang] if engine_name != "kokoro" else lang)

    def say(text: str, speed: float) -> tuple[np.ndarray, int, float]:
        t0 = time.perf_counter()
        take = engine.synthesize(text, spec, speed)
        return take.audio, take.sample_rate, time.perf_counter() - t0
    return say


def voices_for(lang: str, engines: list[str]) -> list[tuple[str, str | None]]:
    """The (engine, voice) pairs measured in ``lang``."""
    found: list[tuple[str, str | None]] = []
    for name in engines:
        if name == "kokoro":
            found += [("kokoro", v) for v in (["jm_kumo"] if lang in KOKORO_REFUSED else KOKORO_VOICES)]
        elif name == "espeak":
            found += [("espeak", ESPEAK_LANG[lang] + v) for v in ESPEAK_VARIANTS]
        elif name == "piper" and lang == "en":
            found.append(("piper", "joe"))
    return found


def run_voice(engine: str, voice: str | None, lang: str, recognizer, f0s: dict) -> dict:
    """One voice in one language: its figures, and its voiced F0 frames added to ``f0s``."""
    say = speaker(engine, voice, lang)
    refs, heard, synth, spoken, misses = SENTENCES[lang], [], 0.0, 0.0, []
    for i, text in enumerate(refs):
        audio, rate, took = say(text, 1.0)
        synth, spoken = synth + took, spoken + audio.size / rate
        said, _ = recognizer.words(audio, rate)
        heard.append(" ".join(w.text for w in said))
        track = f0_track(audio, rate)
        f0s.setdefault(key(engine, voice), []).extend(track[np.isfinite(track)].tolist())
        if i == 0:  # the speed control's fit on the first sentence, slower and faster
            base = dsp.trim(audio, rate).size
            for speed in (0.8, 1.25):
                other, other_rate, _ = say(text, speed)
                misses.append(abs(dsp.trim(other, other_rate).size * speed / max(1, base) - 1))
    if lang == "zh":
        heard = [to_chinese_simplified(h) for h in heard]
    return {"wer": round(error_rate(refs, heard, lang), 3), "rtf": round(synth / max(spoken, 1e-9), 3),
            "speed_error": round(statistics.median(misses), 3), "heard": heard}


def save(measures: dict[str, dict], f0s: dict[str, list[float]]) -> Path:
    """Merge this run's figures into otio_dub/engines/voice_measures.py (other voices and languages kept)."""
    from otio_dub.engines.voice_measures import MEASURES

    merged = {name: {"langs": dict(data.get("langs", {})), **({"f0": data["f0"]} if "f0" in data else {})}
              for name, data in MEASURES.items()}
    for name, data in measures.items():
        merged.setdefault(name, {"langs": {}})["langs"].update(data["langs"])
    for name, values in f0s.items():
        if values:
            merged.setdefault(name, {"langs": {}})["f0"] = round(float(np.median(values)), 1)
    path = Path(__file__).resolve().parents[1] / "otio_dub" / "engines" / "voice_measures.py"
    body = pprint.pformat(merged, width=110, sort_dicts=True)
    part = path.with_suffix(".part")
    part.write_text('"""Measured voices (written by benchmarks/bench_voice_quality.py --write; re-run it to update)."""\n\n'
                    f"MEASURES: dict[str, dict] = {body}\n", encoding="utf-8")
    part.replace(path)
    return path


def markdown(measures: dict[str, dict]) -> str:
    """The docs table: a row per voice, a column per language (WER, RTF), the speed fit and F0."""
    langs = [lang for lang in SENTENCES if any(lang in m.get("langs", {}) for m in measures.values())]
    head = "| voice | gender, F0 | " + " | ".join(f"{lang}{' (CER)' if lang in CHARS else ''}" for lang in langs) + \
        " | speed fit |"
    rows = [head, "| --- " * (len(langs) + 3) + "|"]
    for name in sorted(measures, key=lambda n: (n.split()[0] == "espeak", n)):
        data = measures[name]
        if not data.get("langs"):
            continue
        engine, _, voice = name.partition(" ")
        from otio_dub.engines.voice_quality import named_gender

        gender = named_gender(engine, f"en{voice}" if engine == "espeak" else voice) or "?"
        cells = [f"{data['langs'][lang]['wer']:.0%} / {data['langs'][lang]['rtf']:.2f}" if lang in data["langs"] else "-"
                 for lang in langs]
        fit = statistics.median(m["speed_error"] for m in data["langs"].values())
        f0 = f"{data['f0']:.0f} Hz" if data.get("f0") else "-"
        rows.append(f"| {name} | {gender}, {f0} | " + " | ".join(cells) + f" | {fit:.1%} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", default="en,es,fr,it,pt,ja,de,zh,hi")
    parser.add_argument("--engines", default="kokoro,piper,espeak")
    parser.add_argument("--write", action="store_true", help="keep the figures in otio_dub/engines/voice_measures.py")
    args = parser.parse_args()
    os.environ.setdefault("KOKORO_JA_CACHE", str(Path(tempfile.gettempdir()) / "otio-dub-bench-kokoro"))
    from otio_dub.listen.asr import Recognizer

    engines = [e for e in args.engines.split(",") if e]
    measures: dict[str, dict] = {}
    f0s: dict[str, list[float]] = {}
    started = time.perf_counter()
    if "espeak" in engines:  # every automatic espeak variant's pitch, from the English set
        from otio_dub.engines.espeak import _VARIANTS

        for variant in _VARIANTS:
            say = speaker("espeak", f"en-us+{variant}", "en")
            for text in SENTENCES["en"][:3]:
                audio, rate, _ = say(text, 1.0)
                track = f0_track(audio, rate)
                f0s.setdefault(key("espeak", f"en-us+{variant}"), []).extend(track[np.isfinite(track)].tolist())
    print(f"{'lang':5}{'voice':24}{'WER':>7}{'RTF':>7}{'speed err':>10}   heard (first sentence)")
    for lang in [lang for lang in args.langs.split(",") if lang]:
        recognizer = Recognizer("base", lang)
        for engine, voice in voices_for(lang, engines):
            row = run_voice(engine, voice, lang, recognizer, f0s)
            measures.setdefault(key(engine, voice), {"langs": {}})["langs"][lang] = \
                {k: v for k, v in row.items() if k != "heard"}
            if args.write:  # kept row by row: a long run stopped half way keeps what it measured
                save(measures, f0s)
            print(f"{lang:5}{key(engine, voice):24}{row['wer']:>7.0%}{row['rtf']:>7.2f}{row['speed_error']:>10.1%}   "
                  f"{row['heard'][1][:70]}", flush=True)
    print("\nmedian F0 (Hz) per voice, all languages:")
    for name, values in sorted(f0s.items()):
        print(f"  {name:24}{round(float(np.median(values)), 1) if values else None}")
    print(f"\n{time.perf_counter() - started:.0f} s in all\n")
    if args.write:
        from importlib import reload

        from otio_dub.engines import voice_measures

        print(markdown(reload(voice_measures).MEASURES))
    else:
        print(markdown(measures))
    if args.write:
        print(f"wrote {save(measures, f0s)}")


if __name__ == "__main__":
    main()
