"""Who speaks: a speaker embedding (CAM++, :mod:`.speaker_prints`) per run of words, clustered across
the whole timeline, clusters named after the characters the timeline already names, else SPEAKER 1, 2, ...

Runs of at least ``RELIABLE_S`` of speech are clustered (spectral, its count of voices from the
eigengap or the user's; average linkage on cosine distance where runs are few); shorter runs join
the nearest cluster, since an embedding of a single short word is mostly noise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from .media import missing_extra

#: Runs shorter than this are attached to a cluster afterwards instead of forming one.
RELIABLE_S = 0.8
#: With fewer runs than this, average linkage cut at ``DISTANCE`` instead of spectral clustering.
SPECTRAL_MIN = 40
#: Cosine distance between CAM++ embeddings that separates voices where runs are too few for spectral
#: clustering: clusters stay pure clean, under music at 8 dB and noise at 5 dB (a voice may split).
DISTANCE = 0.4
#: The most voices the eigengap looks for; each row of the affinities keeps its nearest neighbours.
MAX_VOICES = 20
PRUNE_KEEP, PRUNE_SHARE = 6, 0.02
GENERIC_SPEAKER = "SPEAKER"


def cluster(prints: np.ndarray, reliable: Sequence[bool], count: int | None = None, distance: float = DISTANCE,
            anchors: Sequence[str | None] | None = None) -> list[int]:
    """Cluster labels (0-based, numbered in order of first appearance) for unit speaker embeddings.

    ``count``: the number of voices, when the user knows it. ``anchors``: the character the timeline
    names for each print, if any; prints of one character end in one cluster and prints of two
    characters never share one (the timeline's evidence outranks the embeddings).
    """
    n = len(prints)
    if n == 0:
        return []
    named = anchors is not None and any(anchors)
    # a run the timeline names is clustered however short: its name decides where it goes
    base = [i for i in range(n) if reliable[i]] or list(range(n))
    keep = sorted(set(base) | {i for i in range(n) if named and anchors[i]})  # type: ignore[index]
    if len(keep) == 1 or count == 1:
        raw = np.zeros(len(keep), dtype=int)
    else:
        raw = partition(prints[keep], count, distance)
        if named:
            raw = _respect_names(prints[keep], raw, [anchors[i] for i in keep], count)  # type: ignore[index]
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


def partition(prints: np.ndarray, count: int | None = None, distance: float = DISTANCE) -> np.ndarray:
    """Labels for unit embeddings: from ``SPECTRAL_MIN`` runs on, spectral clustering (its own count
    of voices from the eigengap, or ``count``); fewer, average linkage cut at cosine ``distance`` (or
    at ``count`` clusters).

    Measured on real voices (CAM++, random draws of 12-100 prompts of four people): noise and music
    move every distance, so no one linkage threshold both keeps voices apart and joins a voice's
    runs (at 0.4 the clusters stay pure but a voice splits in 2-6); spectral finds the four voices
    from 40 runs on (purity 0.95 or more in every draw), and under 30 it is worse than the threshold.
    """
    if len(prints) >= SPECTRAL_MIN:
        return spectral(prints, count, distance)
    return _linkage(prints, count, distance)


def _linkage(prints: np.ndarray, count: int | None, distance: float) -> np.ndarray:
    """Average linkage on cosine distance, cut at ``count`` clusters or at ``distance``."""
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(prints, method="average", metric="cosine")
    if count:
        return fcluster(tree, t=min(count, len(prints)), criterion="maxclust") - 1
    return fcluster(tree, t=distance, criterion="distance") - 1


def spectral(prints: np.ndarray, count: int | None = None, distance: float = DISTANCE) -> np.ndarray:
    """Spectral clustering as 3D-Speaker does it for CAM++: cosine affinities, each row pruned to its
    nearest neighbours, the unnormalised Laplacian, the number of voices at its largest eigengap
    (unless ``count``), k-means on that many eigenvectors. On one BLAS/OpenMP thread: the labels must
    not depend on the machine's thread count. More separate groups than ``MAX_VOICES`` leave no gap to
    read: then average linkage at ``distance`` decides."""
    from threadpoolctl import threadpool_limits

    try:
        from sklearn.cluster import KMeans
    except ImportError:
        raise missing_extra("scikit-learn", "speaker attribution") from None
    from scipy.linalg import eigh

    n = len(prints)
    with threadpool_limits(limits=1):
        laplacian = _pruned_laplacian(prints)
        top = min(n - 1, max(MAX_VOICES, count or 0))
        values, vectors = eigh(laplacian, subset_by_index=[0, top])
        if not count and values[-1] < 1e-9:  # every computed eigenvalue 0: more groups than it looks for
            return _linkage(prints, None, distance)
        k = min(count, n) if count else int(np.argmax(np.diff(values))) + 1
        if k <= 1:
            return np.zeros(n, dtype=int)
        return KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(vectors[:, :k]).astype(int)


def _pruned_laplacian(prints: np.ndarray) -> np.ndarray:
    """The unnormalised Laplacian of the cosine affinities, each row keeping its nearest neighbours
    (``PRUNE_KEEP``, or ``PRUNE_SHARE`` of the runs), then made symmetric; built in place (about three
    n x n arrays at the peak)."""
    n = len(prints)
    affinity = np.clip(prints @ prints.T, 0.0, None)
    drop = n - max(PRUNE_KEEP, int(PRUNE_SHARE * n))
    if drop > 0:
        lowest = np.argpartition(affinity, drop - 1, axis=1)[:, :drop]
        np.put_along_axis(affinity, lowest, 0.0, axis=1)
        del lowest  # argpartition's n x n indices
    affinity += affinity.T
    affinity *= -0.5
    np.fill_diagonal(affinity, 0.0)
    affinity[np.diag_indices(n)] = -affinity.sum(axis=1)
    return affinity


def _respect_names(prints: np.ndarray, labels: np.ndarray, names: Sequence[str | None], count: int | None) -> np.ndarray:
    """The clusters reconciled with the timeline's names: a cluster holding two characters splits
    (each unnamed run to the character it sounds most like), a character's clusters join, and with
    ``count`` the closest clusters that name no two characters merge down to it."""
    groups: list[list[int]] = []
    for label in dict.fromkeys(labels.tolist()):
        members = [i for i in range(len(labels)) if labels[i] == label]
        groups += _split_by_name(prints, members, names)
    owner: dict[str, int] = {}
    merged: list[list[int]] = []
    for g in groups:
        who = next((names[i] for i in g if names[i]), None)
        if who and who in owner:
            merged[owner[who]] += g
            continue
        if who:
            owner[who] = len(merged)
        merged.append(list(g))
    while count and len(merged) > count and _merge_closest(prints, merged, names):
        pass
    out = np.zeros(len(labels), dtype=int)
    for label, g in enumerate(merged):
        out[g] = label
    return out


def _split_by_name(prints: np.ndarray, members: list[int], names: Sequence[str | None]) -> list[list[int]]:
    """One group per character named among ``members`` (unnamed members to the nearest by centroid)."""
    named = sorted({names[i] for i in members if names[i]})  # type: ignore[type-var]  # None filtered out
    if len(named) <= 1:
        return [members]
    parts = {who: [i for i in members if names[i] == who] for who in named}
    centroids = {who: _unit(prints[idx].mean(axis=0)) for who, idx in parts.items()}
    for i in members:
        if not names[i]:
            parts[max(centroids, key=lambda who: float(prints[i] @ centroids[who]))].append(i)
    return [sorted(p) for p in parts.values()]


def _merge_closest(prints: np.ndarray, groups: list[list[int]], names: Sequence[str | None]) -> bool:
    """Merge the two groups with the closest mean cosine distance that name no two characters (the
    mean of a @ b.T over two groups is their sums' product over their sizes)."""
    sums = np.array([prints[g].sum(axis=0) for g in groups])
    sizes = np.array([len(g) for g in groups], dtype=float)
    who = [{names[i] for i in g if names[i]} for g in groups]
    distance = 1.0 - (sums @ sums.T) / np.outer(sizes, sizes)
    best, pick = np.inf, None
    for a in range(len(groups)):
        for b in range(a + 1, len(groups)):
            if len(who[a] | who[b]) <= 1 and distance[a, b] < best:
                best, pick = float(distance[a, b]), (a, b)
    if pick is None:
        return False
    groups[pick[0]] += groups.pop(pick[1])
    return True


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
