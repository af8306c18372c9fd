"""Discrete content units: k-means over WavLM frames, adjacent-duplicate removal and the durations that
re-expand the deduplicated units onto mel frames (StableVC, after PromptVC: the units keep *what* is said;
their durations, predicted again at conversion time, decide the rhythm)."""

from __future__ import annotations

import torch


def fit_kmeans(features: torch.Tensor, clusters: int, iterations: int, seed: int = 0) -> torch.Tensor:
    """``(clusters, C)`` centroids of ``features (N, C)`` by Lloyd's algorithm from a k-means++ start (a
    seeded generator: the same frames give the same centroids). An emptied cluster takes the frame farthest
    from its centroid."""
    features = features.float()
    count = features.shape[0]
    if count < clusters:
        raise ValueError(f"k-means with {clusters} clusters needs at least as many frames, got {count}")
    generator = torch.Generator().manual_seed(seed)
    centroids = features[torch.randint(count, (1,), generator=generator)]
    for _ in range(1, clusters):
        distance = torch.cdist(features, centroids).min(dim=1).values.pow(2)
        pick = torch.multinomial(distance + 1e-12, 1, generator=generator)
        centroids = torch.cat([centroids, features[pick]])
    for _ in range(iterations):
        distance = torch.cdist(features, centroids)
        assignment = distance.argmin(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, features)
        counts = torch.bincount(assignment, minlength=clusters)
        updated = sums / counts.clamp(min=1)[:, None].float()
        empty = counts == 0
        if empty.any():
            farthest = distance.gather(1, assignment[:, None])[:, 0].topk(int(empty.sum())).indices
            updated[empty] = features[farthest]
        if torch.allclose(updated, centroids):
            break
        centroids = updated
    return centroids


def assign_units(features: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """``(T,)`` long: the nearest centroid of each frame of ``features (T, C)``."""
    return torch.cdist(features.float(), centroids.to(features.device).float()).argmin(dim=1)


def deduplicate(units: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Runs of equal adjacent units → ``(unique (N,), run lengths (N,))``."""
    unique, counts = torch.unique_consecutive(units, return_counts=True)
    return unique, counts


def expand(units: torch.Tensor, durations: torch.Tensor) -> torch.Tensor:
    """Each unit repeated its duration times (durations of 0 drop the unit)."""
    return torch.repeat_interleave(units, durations.clamp(min=0).long())


def rescale_durations(durations: torch.Tensor, ratio: float) -> torch.Tensor:
    """Durations counted in one frame rate → the same run boundaries in another (``ratio`` = new frames per
    old frame), rounded at the cumulative boundaries so that the total is ``round(sum · ratio)``."""
    ends = torch.round(torch.cumsum(durations.double(), 0) * ratio).long()
    return torch.diff(ends, prepend=ends.new_zeros(1))
