"""Who speaks: a voiceprint (resemblyzer) per run of words, clustered across the whole timeline,
clusters named after the characters the timeline already names, else SPEAKER 1, 2, ...

Runs of at least ``RELIABLE_S`` of speech are clustered (agglomerative, average linkage on cosine
distance: a count given by the user, else a distance threshold); shorter runs join the nearest
cluster, since a voiceprint of a single short word is mostly noise.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .media import missing_extra

EMBED_RATE = 16000
#: Runs shorter than this are attached to a cluster afterwards instead of forming one.
RELIABLE_S = 0.8
#: Cosine distance that separates voices (measured on resemblyzer: one voice 0.05-0.29 even at 5 dB SNR, two 0.41-0.7).
DISTANCE = 0.35
GENERIC_SPEAKER = "SPEAKER"


class Voiceprints:
    """resemblyzer's voice encoder, loaded once (its 17 MB model ships in the wheel)."""

    def __init__(self) -> None:
        try:
            from resemblyzer import VoiceEncoder
        except ImportError:
            raise missing_extra("resemblyzer", "speaker attribution") from None
        self.encoder = VoiceEncoder(device="cpu", verbose=False)

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """A unit-length voiceprint of mono ``audio`` (resampled to 16 kHz, level-normalised)."""
        from resemblyzer import normalize_volume

        from ..audio import dsp

        wav = dsp.resample(np.asarray(audio, dtype=np.float32), sample_rate, EMBED_RATE)
        if wav.size < EMBED_RATE // 2:  # the encoder needs frames; repeat a very short run
            wav = np.tile(wav, -(-(EMBED_RATE // 2) // max(1, wav.size)))
        wav = normalize_volume(wav, -30, increase_only=False).astype(np.float32)
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one thread, in any process: a voiceprint's last bits must not depend on it
        try:
            return np.asarray(self.encoder.embed_utterance(wav), dtype=np.float64)
        finally:
            torch.set_num_threads(threads)


@functools.lru_cache(maxsize=1)
def get_voiceprints() -> Voiceprints:
    """The voice encoder, loaded once per process."""
    return Voiceprints()


def cluster(prints: np.ndarray, reliable: Sequence[bool], count: int | None = None, distance: float = DISTANCE,
            anchors: Sequence[str | None] | None = None) -> list[int]:
    """Cluster labels (0-based, numbered in order of first appearance) for unit voiceprints.

    ``anchors``: the character the timeline names for each print, if any; prints of one character
    start as one cluster and prints of two characters never share one (the timeline's evidence
    outranks a voiceprint's distance), unnamed prints join by distance.
    """
    n = len(prints)
    if n == 0:
        return []
    keep = [i for i in range(n) if reliable[i]] or list(range(n))
    named = anchors is not None and any(anchors[i] for i in keep)
    if len(keep) == 1 or count == 1:
        raw = np.zeros(len(keep), dtype=int)
    elif named and len(keep) <= MAX_ANCHORED:
        names = list(anchors or ())
        raw = np.array(_anchored(prints[keep], [names[i] for i in keep], count, distance), dtype=int)
    else:
        from scipy.cluster.hierarchy import fcluster, linkage

        tree = linkage(prints[keep], method="average", metric="cosine")
        if count:
            raw = fcluster(tree, t=min(count, len(keep)), criterion="maxclust")
        else:
            raw = fcluster(tree, t=distance, criterion="distance")
    labels = np.full(n, -1)
    labels[keep] = raw
    centroids = {c: _unit(prints[labels == c].mean(axis=0)) for c in set(raw.tolist())}
    for i in range(n):
        if labels[i] == -1:  # a short run joins the voice it sounds most like
            labels[i] = max(centroids, key=lambda c: float(prints[i] @ centroids[c]))
    order: dict[int, int] = {}
    for label in labels.tolist():
        order.setdefault(label, len(order))
    return [order[label] for label in labels.tolist()]


#: Above this many runs the anchored clustering (quadratic memory, cubic time) gives way to scipy's.
MAX_ANCHORED = 800


def _anchored(prints: np.ndarray, anchors: Sequence[str | None], count: int | None, distance: float) -> list[int]:
    """Average-linkage clustering on cosine distance with the timeline's names as constraints:
    one starting cluster per named character, no merge of two differently named clusters."""
    groups: list[list[int]] = []
    names: list[str | None] = []
    seen: dict[str, int] = {}
    for i, who in enumerate(anchors):
        if who and who in seen:
            groups[seen[who]].append(i)
            continue
        if who:
            seen[who] = len(groups)
        groups.append([i])
        names.append(who)
    pair = 1.0 - prints @ prints.T
    sums = np.array([[pair[np.ix_(a, b)].sum() for b in groups] for a in groups])
    sizes = np.array([len(g) for g in groups], dtype=float)
    alive = list(range(len(groups)))
    while len(alive) > 1 and (not count or len(alive) > count):
        best, pick = np.inf, None
        for x, a in enumerate(alive):
            for b in alive[x + 1:]:
                if names[a] and names[b] and names[a] != names[b]:
                    continue
                d = sums[a, b] / (sizes[a] * sizes[b])
                if d < best:
                    best, pick = d, (a, b)
        if pick is None or (not count and best > distance):
            break
        a, b = pick
        sums[a, :] += sums[b, :]
        sums[:, a] += sums[:, b]
        sizes[a] += sizes[b]
        groups[a] += groups[b]
        names[a] = names[a] or names[b]
        alive.remove(b)
    labels = [0] * len(prints)
    for label, g in enumerate(alive, 1):
        for i in groups[g]:
            labels[i] = label
    return labels


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) or 1.0)


def name_clusters(labels: Sequence[int], hints: Sequence[str | None], weights: Sequence[float]) -> list[str]:
    """A name per cluster (index = label), from what the timeline says about who speaks where.

    A cluster most of whose speech the timeline gives to one character is that character, even
    if another cluster is too (two clusters of one voice, heard through different rooms, merge);
    other clusters take the strongest remaining claim, each name once; the rest are ``SPEAKER n``,
    numbered in order of first appearance.
    """
    total: Counter = Counter()
    votes: dict[int, Counter] = {}
    for label, hint, weight in zip(labels, hints, weights, strict=True):
        total[label] += weight  # type: ignore[assignment]  # typeshed's Counter counts ints; Python's takes floats
        if hint:
            votes.setdefault(label, Counter())[hint] += weight  # type: ignore[assignment]  # as above
    names: dict[int, str] = {}
    for label, counter in votes.items():
        name, weight = counter.most_common(1)[0]
        if weight > 0.5 * total[label] and weight >= 2 / 3 * sum(counter.values()):
            names[label] = name
    claims = sorted(((w, label, name) for label, c in votes.items() for name, w in c.items()), reverse=True)
    for _, label, name in claims:
        if label not in names and name not in names.values():
            names[label] = name
    number = 0
    for label in dict.fromkeys(labels):
        if label not in names:
            number += 1
            while f"{GENERIC_SPEAKER} {number}" in names.values():
                number += 1
            names[label] = f"{GENERIC_SPEAKER} {number}"
    return [names[i] for i in range(len(names))]
