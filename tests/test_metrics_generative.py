"""FD_local, KID_local, precision/recall, density/coverage and label entropy against closed forms, scipy, sklearn and
brute-force loops over the papers' formulas."""

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance
import torch
from sklearn.neighbors import NearestNeighbors

from hf_genzoo.metrics.generative import (
    density_coverage,
    frechet_distance,
    frechet_distance_from_stats,
    gaussian_stats,
    kernel_distance,
    knn_radii,
    label_entropy,
    precision_recall,
)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _correlated(n, d, seed=0):
    """(n, d) samples of a Gaussian with a random full covariance, well conditioned."""
    mixing = torch.eye(d, dtype=torch.float64) + 0.3 * _randn(d, d, seed=seed + 100)
    return _randn(n, d, seed=seed) @ mixing + _randn(d, seed=seed + 200)


def _two_clusters(n, d, seed=0):
    """A cluster at the origin and one 40 units away, n points each, as a (2n, d) matrix."""
    far = torch.zeros(d, dtype=torch.float64)
    far[0] = 40.0
    return torch.cat([_randn(n, d, seed=seed), _randn(n, d, seed=seed + 1) + far])


# ---------------------------------------------------------------- Frechet distance


def _frechet_scipy(mu1, s1, mu2, s2):
    """The usual FID code: scipy.linalg.sqrtm of S1 S2, dropping a negligible imaginary part."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if np.iscomplexobj(covmean):
        assert np.abs(covmean.imag).max() < 1e-8
        covmean = covmean.real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def test_gaussian_stats_match_numpy():
    x = _correlated(300, 6)
    mu, sigma = gaussian_stats(x.numpy())
    np.testing.assert_allclose(mu.numpy(), x.numpy().mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(x.numpy(), rowvar=False), rtol=0, atol=1e-12)


def test_frechet_distance_of_a_set_with_itself_and_with_a_shifted_copy():
    x = _correlated(2000, 8)
    assert abs(frechet_distance(x, x)) < 1e-6
    delta = _randn(8, seed=3)
    # a shift leaves the covariance as it is, so the distance is exactly ||delta||^2
    assert frechet_distance(x, x + delta) == pytest.approx(float(delta.square().sum()), rel=1e-9)
    shifted32 = (x + delta).float().numpy()  # float32 input, computed in float64
    assert frechet_distance(x.numpy(), shifted32) == pytest.approx(float(delta.square().sum()), rel=1e-5)


def test_frechet_distance_from_stats_diagonal_closed_form():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3.0, size=6), rng.uniform(0.1, 3.0, size=6)
    expected = np.sum((m1 - m2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    fd = frechet_distance_from_stats(m1, np.diag(s1), torch.from_numpy(m2), torch.from_numpy(np.diag(s2)))
    assert fd == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_equal_covariances_is_the_squared_mean_shift():
    a = _randn(10, 10, seed=1)
    sigma = a @ a.T + 0.1 * torch.eye(10, dtype=torch.float64)
    mu, delta = _randn(10, seed=2), _randn(10, seed=3)
    assert frechet_distance_from_stats(mu, sigma, mu + delta, sigma) == pytest.approx(float(delta @ delta), rel=1e-9)


def test_frechet_distance_matches_scipy_sqrtm_on_full_covariances():
    real, fake = _correlated(500, 16, seed=0), 1.5 * _correlated(400, 16, seed=7)
    expected = _frechet_scipy(*(t.numpy() for t in (*gaussian_stats(real), *gaussian_stats(fake))))
    assert expected > 1.0
    assert frechet_distance(real, fake) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_with_singular_covariances():
    x = _randn(5, 10, seed=4)  # N < D: rank-4 covariance
    # each of the 6 zero eigenvalues comes out as rounding noise ~1e-16, whose square root adds ~1e-8
    assert abs(frechet_distance(x, x)) < 1e-6
    assert frechet_distance(x, x + 1.0) == pytest.approx(10.0, abs=1e-6)


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match="differ in width"):
        frechet_distance(_randn(10, 3), _randn(10, 4))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        frechet_distance(_randn(10), _randn(10))
    with pytest.raises(ValueError, match="covariances"):
        frechet_distance_from_stats(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))


# ---------------------------------------------------------------- kernel distance


def _mmd2_unbiased_loop(x, y, degree=3, gamma=None, coef0=1.0):
    """Binkowski et al. 2018, eq. (4), one kernel evaluation at a time."""
    gamma = 1.0 / len(x[0]) if gamma is None else gamma

    def k(a, b):
        return (gamma * sum(ai * bi for ai, bi in zip(a, b, strict=True)) + coef0) ** degree

    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


@pytest.mark.parametrize("degree, gamma, coef0", [(3, None, 1.0), (2, 0.5, 0.3)])
def test_kernel_distance_matches_a_loop_over_the_unbiased_formula(degree, gamma, coef0):
    x, y = _randn(7, 3, seed=0), 0.5 + _randn(7, 3, seed=1)
    expected = _mmd2_unbiased_loop(x.tolist(), y.tolist(), degree, gamma, coef0)
    # subsets of all 7 points are permutations, and MMD^2 does not depend on the order
    kid = kernel_distance(x, y.numpy(), subsets=3, subset_size=7, degree=degree, gamma=gamma, coef0=coef0)
    assert kid["mean"] == pytest.approx(expected, abs=1e-10)
    assert kid["std"] < 1e-12


def test_kernel_distance_is_unbiased_and_detects_a_shift():
    real, fake = _randn(20000, 4, seed=0), _randn(20000, 4, seed=1)
    # 1000 nearly independent subsets of 10: the biased (V-statistic) estimate would be ~2 here
    same = kernel_distance(real, fake, subsets=1000, subset_size=10)
    assert abs(same["mean"]) < 4 * same["std"] / math.sqrt(1000)
    shifted = kernel_distance(real, fake + 1.0, subsets=1000, subset_size=10)
    assert shifted["mean"] > 20 * shifted["std"] / math.sqrt(1000)


def test_kernel_distance_is_reproducible_with_a_generator():
    real, fake = _randn(300, 5, seed=0), _randn(200, 5, seed=1)
    first = kernel_distance(real, fake, subsets=5, subset_size=50, generator=torch.Generator().manual_seed(3))
    again = kernel_distance(real, fake, subsets=5, subset_size=50, generator=torch.Generator().manual_seed(3))
    other = kernel_distance(real, fake, subsets=5, subset_size=50, generator=torch.Generator().manual_seed(4))
    assert first == again and first != other
    default_seed = kernel_distance(real, fake, subsets=5, subset_size=50)
    assert default_seed == kernel_distance(real, fake, subsets=5, subset_size=50)


# ---------------------------------------------------------------- precision / recall


def test_knn_radii_match_sklearn():
    x = _randn(60, 4)
    for k in (1, 3, 5):
        expected = NearestNeighbors(n_neighbors=k).fit(x.numpy()).kneighbors()[0][:, k - 1]  # excludes the point
        np.testing.assert_allclose(knn_radii(x, k, batch_size=7).numpy(), expected, rtol=1e-10, atol=0)


def test_precision_recall_match_the_definition():
    real, fake = _randn(80, 5, seed=0), 1.0 + _randn(70, 5, seed=1)
    k = 3
    d_rr, d_ff = (scipy.spatial.distance.cdist(a, a) for a in (real.numpy(), fake.numpy()))
    d_rf = scipy.spatial.distance.cdist(real.numpy(), fake.numpy())  # (N, M)
    r_real, r_fake = np.sort(d_rr, axis=1)[:, k], np.sort(d_ff, axis=1)[:, k]  # column 0 is the point itself
    expected_precision = np.mean([any(d_rf[i, j] <= r_real[i] for i in range(80)) for j in range(70)])
    expected_recall = np.mean([any(d_rf[i, j] <= r_fake[j] for j in range(70)) for i in range(80)])
    assert 0.1 < expected_precision < 0.9 and 0.1 < expected_recall < 0.9
    assert precision_recall(real, fake, k=k) == {"precision": expected_precision, "recall": expected_recall}


def test_precision_recall_of_identical_disjoint_and_half_covering_sets():
    real = _randn(300, 5)
    assert precision_recall(real, real.clone()) == {"precision": 1.0, "recall": 1.0}
    assert precision_recall(real, real + 100.0) == {"precision": 0.0, "recall": 0.0}
    # fake covers one of real's two clusters: all of its points are real-looking, half of real is missed
    two, one = _two_clusters(300, 2), _randn(300, 2, seed=9)
    pr = precision_recall(two, one)
    assert pr["precision"] > 0.9
    assert 0.4 < pr["recall"] <= 0.5


def test_ball_boundaries_follow_each_papers_code():
    real, fake = torch.tensor([[0.0], [1.0], [10.0], [12.0]]), torch.tensor([[-1.0], [5.0]])  # k=1 radii: 1, 1, 2, 2
    # fake -1.0 lies exactly on the boundary of B(0, 1): inside for precision (closed balls), outside for density
    assert precision_recall(real, fake, k=1) == {"precision": 0.5, "recall": 0.75}
    assert density_coverage(real, fake, k=1) == {"density": 0.0, "coverage": 0.0}


def test_precision_recall_reject_too_large_k():
    with pytest.raises(ValueError, match="k must be in"):
        precision_recall(_randn(10, 2), _randn(3, 2), k=3)


# ---------------------------------------------------------------- density / coverage


def _density_coverage_loop(real, fake, k):
    """Naeem et al. 2020, eqs. (3) and (4), one distance at a time; open balls as in the authors' code."""
    radii = [sorted(math.dist(r, other) for other in real)[k] for r in real]  # index 0 is the point itself
    in_ball = [[math.dist(f, r) < radius for r, radius in zip(real, radii, strict=True)] for f in fake]  # (M, N)
    density = sum(map(sum, in_ball)) / (k * len(fake))
    coverage = sum(any(row[i] for row in in_ball) for i in range(len(real))) / len(real)
    return density, coverage


def test_density_coverage_match_a_loop():
    real, fake = _randn(25, 3, seed=0), 0.4 + 0.7 * _randn(20, 3, seed=1)
    density, coverage = _density_coverage_loop(real.tolist(), fake.tolist(), k=3)
    assert 0.1 < coverage < 0.9
    result = density_coverage(real, fake.numpy(), k=3)
    assert result["density"] == pytest.approx(density, abs=1e-12)
    assert result["coverage"] == coverage


def test_density_coverage_of_identical_and_disjoint_sets():
    real = _randn(200, 6)
    # each open ball holds its centre and the k - 1 nearer neighbours: k fake points per real point
    assert density_coverage(real, real.clone(), k=5) == {"density": 1.0, "coverage": 1.0}
    assert density_coverage(real, real + 100.0, k=5) == {"density": 0.0, "coverage": 0.0}


# ---------------------------------------------------------------- chunking, input types


def test_chunked_distances_give_the_unchunked_answers():
    real, fake = _two_clusters(150, 4), 0.2 + _randn(250, 4, seed=5)
    np.testing.assert_allclose(knn_radii(real, 3, batch_size=7), knn_radii(real, 3, batch_size=10_000), rtol=1e-12)
    assert precision_recall(real, fake, batch_size=7) == precision_recall(real, fake, batch_size=10_000)
    assert density_coverage(real, fake, batch_size=7) == density_coverage(real, fake, batch_size=10_000)


def test_numpy_float32_and_torch_inputs_agree():
    real, fake = np.random.default_rng(0).normal(size=(2, 120, 4)).astype(np.float32)
    as_torch = torch.from_numpy(real).double(), torch.from_numpy(fake).double()
    assert precision_recall(real, fake) == precision_recall(*as_torch)
    assert density_coverage(real, fake) == density_coverage(*as_torch)
    assert frechet_distance(real, fake) == frechet_distance(*as_torch)
    assert kernel_distance(real, fake, subset_size=50) == kernel_distance(*as_torch, subset_size=50)


# ---------------------------------------------------------------- label entropy


def test_label_entropy_of_uniform_and_single_class_labels():
    uniform = torch.arange(40) % 4
    assert label_entropy(uniform, 4) == pytest.approx({"entropy": math.log(4), "normalized_entropy": 1.0}, abs=1e-12)
    assert label_entropy(np.full(30, 2), 4) == {"entropy": 0.0, "normalized_entropy": 0.0}


def test_label_entropy_from_probabilities_uses_the_argmax():
    logits = _randn(90, 3, seed=0)
    labels = logits.argmax(dim=1)
    assert label_entropy(logits.softmax(dim=1), 3) == label_entropy(labels, 3)
    counts = np.bincount(labels.numpy(), minlength=3) / 90
    expected = -np.sum(counts * np.log(counts))
    assert label_entropy(logits.softmax(dim=1).numpy(), 3)["entropy"] == pytest.approx(expected, abs=1e-12)
    assert label_entropy(labels, 3)["normalized_entropy"] == pytest.approx(expected / math.log(3), abs=1e-12)


def test_label_entropy_rejects_bad_labels():
    with pytest.raises(ValueError, match="integers in"):
        label_entropy(torch.tensor([0, 1, 4]), 4)
    with pytest.raises(ValueError, match="integer labels"):
        label_entropy(torch.tensor([0.0, 1.0]), 4)
    with pytest.raises(ValueError, match="at least 2"):
        label_entropy(torch.tensor([0, 0]), 1)
