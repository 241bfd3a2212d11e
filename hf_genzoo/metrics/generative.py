"""Sample-quality and coverage metrics for generative models, computed on feature matrices.

The features are whatever `(N, D)` embedding the caller passes, in this project those of a classifier trained on the
same data, never Inception-v3's. The numbers are therefore not comparable with published FID/KID values and are
reported as **FD_local** and **KID_local** (likewise precision, recall, density and coverage are "local").

- Frechet distance: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
  Equilibrium" (FID's formula), https://arxiv.org/abs/1706.08500
- Kernel distance: Binkowski et al. 2018, "Demystifying MMD GANs" (KID), https://arxiv.org/abs/1801.01401
- Precision and recall: Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
  Models", https://arxiv.org/abs/1904.06991
- Density and coverage: Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models",
  https://arxiv.org/abs/2002.09797

Every function takes torch tensors or numpy arrays, computes in float64 and returns Python floats. The k-NN metrics
compute pairwise distances `batch_size` rows at a time, so 10k x 10k sets need ~`batch_size * 10k` floats at once.
"""

import math

import numpy as np
import torch

from ..errors import UserInputError

Array = torch.Tensor | np.ndarray


def _as_features(x: Array, name: str) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to(torch.float64)
    if x.ndim != 2 or len(x) == 0:
        raise UserInputError(f"{name} must be a non-empty (N, D) feature matrix, got shape {tuple(x.shape)}")
    return x


def _as_pair(real: Array, fake: Array) -> tuple[torch.Tensor, torch.Tensor]:
    real, fake = _as_features(real, "real"), _as_features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise UserInputError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    return real, fake.to(real.device)


# ---------------------------------------------------------------- Frechet distance (FD_local)


def gaussian_stats(features: Array) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean `(D,)` and covariance `(D, D)` (divided by N - 1, as `np.cov`) of a `(N, D)` feature matrix, in float64.

    Cache these for the real set and pass them to `frechet_distance_from_stats`."""
    x = _as_features(features, "features")
    if len(x) < 2:
        raise UserInputError("a covariance needs at least two samples")
    mu = x.mean(0)  # (D,)
    centered = x - mu  # (N, D)
    return mu, centered.T @ centered / (len(x) - 1)  # (D,), (D, D)


def frechet_distance_from_stats(mu1: Array, sigma1: Array, mu2: Array, sigma2: Array) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2)
    ([Heusel et al. 2017](https://arxiv.org/abs/1706.08500)):

        ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2})

    Args:
        mu1, mu2 (`torch.Tensor` or `np.ndarray` of shape `(D,)`): the means.
        sigma1, sigma2 (`torch.Tensor` or `np.ndarray` of shape `(D, D)`): the covariances (symmetric PSD).
    """
    mu1, sigma1, mu2, sigma2 = (torch.as_tensor(a).detach().to(torch.float64) for a in (mu1, sigma1, mu2, sigma2))
    d = mu1.shape[0] if mu1.ndim == 1 else -1
    if any(m.shape != (d,) for m in (mu1, mu2)) or any(s.shape != (d, d) for s in (sigma1, sigma2)):
        shapes = [tuple(a.shape) for a in (mu1, sigma1, mu2, sigma2)]
        raise UserInputError(f"expected means (D,) and covariances (D, D), got shapes {shapes}")
    # Tr((S1 S2)^{1/2}) = sum_i sqrt(lambda_i), lambda_i the eigenvalues of the symmetric PSD matrix
    # sqrt(S1) S2 sqrt(S1), which has the eigenvalues of S1 S2. Two `eigh` calls instead of scipy.linalg.sqrtm:
    # no complex parts to discard, singular covariances (N < D) are fine; rounding's tiny negatives are clamped to 0.
    w, v = torch.linalg.eigh(sigma1)
    sqrt_sigma1 = (v * w.clamp(min=0).sqrt()) @ v.T  # (D, D)
    middle = sqrt_sigma1 @ sigma2 @ sqrt_sigma1  # (D, D)
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    return float((mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt)


def frechet_distance(real: Array, fake: Array) -> float:
    """Frechet distance between Gaussians fitted to `real` and `fake` `(N, D)` features: FD_local in reports."""
    real, fake = _as_pair(real, fake)
    return frechet_distance_from_stats(*gaussian_stats(real), *gaussian_stats(fake))


# ---------------------------------------------------------------- kernel distance (KID_local)


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, degree: int, gamma: float, coef0: float) -> torch.Tensor:
    """Unbiased MMD^2 of samples x (m, D), y (n, D) with k(a, b) = (gamma a.b + coef0)^degree (Gretton et al. 2012,
    Lemma 6): mean of k over pairs i != j within x, plus the same within y, minus twice the mean over x-y pairs."""
    m, n = len(x), len(y)
    k_xx = (gamma * x @ x.T + coef0) ** degree  # (m, m)
    k_yy = (gamma * y @ y.T + coef0) ** degree  # (n, n)
    k_xy = (gamma * x @ y.T + coef0) ** degree  # (m, n)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return within_x + within_y - 2 * k_xy.mean()


def kernel_distance(
    real: Array,
    fake: Array,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Kernel distance, KID_local in reports ([Binkowski et al. 2018](https://arxiv.org/abs/1801.01401)): the
    unbiased MMD^2 estimate with a polynomial kernel, averaged over random subsets of both sets.

    Args:
        real, fake (`torch.Tensor` or `np.ndarray` of shape `(N, D)` and `(M, D)`): the features.
        subsets (`int`, *optional*, defaults to 100): how many subset pairs to average over (the paper's choice).
        subset_size (`int`, *optional*, defaults to 1000): samples per subset, drawn without replacement; capped at
            the size of the smaller set.
        degree (`int`, *optional*, defaults to 3): the kernel is k(x, y) = (gamma x.y + coef0)^degree.
        gamma (`float`, *optional*, defaults to 1 / D): the paper's scale for D-dimensional features.
        coef0 (`float`, *optional*, defaults to 1.0): the kernel's offset.
        generator (`torch.Generator`, *optional*): draws the subsets; defaults to one seeded with 0, so the same
            inputs always give the same number.

    Returns:
        `dict`: `{"mean": ..., "std": ...}` of the per-subset estimates (std with ddof 0, as torch-fidelity). The mean
        can be slightly negative when the two sets come from the same distribution: the estimator is unbiased.
    """
    real, fake = _as_pair(real, fake)
    size = min(subset_size, len(real), len(fake))
    if size < 2 or subsets < 1:
        raise UserInputError(f"need subsets >= 1 and at least 2 samples per subset, got {subsets} subsets of {size}")
    gamma = 1.0 / real.shape[1] if gamma is None else gamma
    generator = torch.Generator().manual_seed(0) if generator is None else generator
    estimates = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=generator)[:size]]  # (size, D)
        y = fake[torch.randperm(len(fake), generator=generator)[:size]]
        estimates.append(_mmd2_unbiased(x, y, degree, gamma, coef0))
    estimates = torch.stack(estimates)  # (subsets,)
    return {"mean": float(estimates.mean()), "std": float(estimates.std(correction=0))}


# ---------------------------------------------------------------- k-NN metrics: precision, recall, density, coverage


def _check_k(k: int, n: int, name: str) -> None:
    if not 1 <= k < n:
        raise UserInputError(
            f"k must be in [1, {n - 1}] for {n} {name} samples (a point is not its neighbour), got {k}"
        )


def knn_radii(features: Array, k: int, *, batch_size: int = 1024) -> torch.Tensor:
    """Distance `(N,)` of each point of a `(N, D)` set to its k-th nearest neighbour in the set, the point excluded."""
    x = _as_features(features, "features")
    _check_k(k, len(x), "feature")
    # the point itself is the nearest (distance 0), so the k-th neighbour is the (k + 1)-th smallest distance
    return torch.cat([torch.cdist(chunk, x).kthvalue(k + 1, dim=1).values for chunk in x.split(batch_size)])


def _fraction_in_any_ball(points: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor, batch_size: int) -> float:
    """Fraction of `points` (P, D) inside at least one closed ball B(centers_i, radii_i), centers (N, D), radii (N,)."""
    inside = [(torch.cdist(chunk, centers) <= radii).any(dim=1) for chunk in points.split(batch_size)]  # (c,) each
    return float(torch.cat(inside).double().mean())


def precision_recall(real: Array, fake: Array, *, k: int = 3, batch_size: int = 1024) -> dict[str, float]:
    """Improved precision and recall ([Kynkaanniemi et al. 2019](https://arxiv.org/abs/1904.06991)).

    Each set's manifold is the union of balls around its points with radius the distance to the k-th nearest neighbour.
    Precision is the fraction of fake points inside the real manifold (fidelity), recall the fraction of real points
    inside the fake manifold (diversity). Balls are closed (`<=`), as in the authors' code.

    Args:
        real, fake (`torch.Tensor` or `np.ndarray` of shape `(N, D)` and `(M, D)`): the features.
        k (`int`, *optional*, defaults to 3): the neighbour that sets the radii (the paper's choice).
        batch_size (`int`, *optional*, defaults to 1024): rows of the distance matrix computed at once.

    Returns:
        `dict`: `{"precision": ..., "recall": ...}`, each in [0, 1].
    """
    real, fake = _as_pair(real, fake)
    _check_k(k, len(real), "real")
    _check_k(k, len(fake), "fake")
    real_radii = knn_radii(real, k, batch_size=batch_size)  # (N,)
    fake_radii = knn_radii(fake, k, batch_size=batch_size)  # (M,)
    return {
        "precision": _fraction_in_any_ball(fake, real, real_radii, batch_size),
        "recall": _fraction_in_any_ball(real, fake, fake_radii, batch_size),
    }


def density_coverage(real: Array, fake: Array, *, k: int = 5, batch_size: int = 1024) -> dict[str, float]:
    """Density and coverage ([Naeem et al. 2020](https://arxiv.org/abs/2002.09797)), with only real-sample balls
    B(real_i, r_i), r_i the distance of real_i to its k-th nearest real neighbour:

        density  = 1 / (k M) sum_j sum_i 1[fake_j in B(real_i, r_i)]
        coverage = 1 / N     sum_i 1[exists j: fake_j in B(real_i, r_i)]

    Balls are open (`<`), as in the authors' code, so a set compared with itself has density 1 and coverage 1.

    Args:
        real, fake (`torch.Tensor` or `np.ndarray` of shape `(N, D)` and `(M, D)`): the features.
        k (`int`, *optional*, defaults to 5): the neighbour that sets the radii (the paper's choice).
        batch_size (`int`, *optional*, defaults to 1024): rows of the distance matrices computed at once.

    Returns:
        `dict`: `{"density": ..., "coverage": ...}`; coverage is in [0, 1], density in [0, N / k].
    """
    real, fake = _as_pair(real, fake)
    _check_k(k, len(real), "real")
    in_balls, covered = 0, 0
    for chunk in real.split(batch_size):  # real-major, so the radii and the fake distances are computed alike
        radii = torch.cdist(chunk, real).kthvalue(k + 1, dim=1).values  # (c,)
        inside = torch.cdist(chunk, fake) < radii[:, None]  # (c, M)
        in_balls += int(inside.sum())
        covered += int(inside.any(dim=1).sum())
    return {"density": in_balls / (k * len(fake)), "coverage": covered / len(real)}


# ---------------------------------------------------------------- mode coverage


def label_entropy(probs_or_labels: Array, num_classes: int) -> dict[str, float]:
    """Entropy of the histogram of predicted classes of generated samples: how evenly they spread over the modes.

    Args:
        probs_or_labels (`torch.Tensor` or `np.ndarray`): class probabilities or logits `(N, C)` (their argmax is the
            label) or integer labels `(N,)`.
        num_classes (`int`): the number of classes C >= 2; the maximum entropy is log(C).

    Returns:
        `dict`: `{"entropy": ..., "normalized_entropy": ...}`, the entropy in nats and divided by log(C): 1.0 for
        uniform labels, 0.0 when every sample gets the same class.
    """
    if num_classes < 2:
        raise UserInputError(f"num_classes must be at least 2, got {num_classes}")
    x = torch.as_tensor(probs_or_labels).detach()
    if x.ndim == 2 and x.shape[1] == num_classes:
        labels = x.argmax(dim=1)  # (N,)
    elif x.ndim == 1 and not x.is_floating_point():
        labels = x.long()
    else:
        got = f"{tuple(x.shape)} {x.dtype}"
        raise UserInputError(f"expected probabilities (N, {num_classes}) or integer labels (N,), got {got}")
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= num_classes:
        raise UserInputError(f"labels must be a non-empty set of integers in [0, {num_classes - 1}]")
    p = torch.bincount(labels, minlength=num_classes).double() / len(labels)  # (C,)
    p = p[p > 0]
    entropy = float((p * (1 / p).log()).sum())  # sum_c p_c log(1 / p_c)
    return {"entropy": entropy, "normalized_entropy": entropy / math.log(num_classes)}
