"""Point-cloud metrics: CD and EMD against hand-computed values and brute force, the pairwise matrices against the
per-pair functions, MMD / COV on a hand-made matrix, 1-NNA on matched and mismatched distributions."""

import itertools

import numpy as np
import pytest
import torch

from hf_genzoo.metrics import (
    ReferenceSets,
    chamfer_distance,
    coverage,
    earth_movers_distance,
    minimum_matching_distance,
    one_nna_accuracy,
    pairwise_chamfer,
    pairwise_emd,
    point_cloud_metrics,
)
from hf_genzoo.metrics.points import _pairwise_chamfer_torch


def _spheres(n_sets: int, n_points: int, rng: np.random.Generator, radius: float = 1.0) -> np.ndarray:
    x = rng.normal(size=(n_sets, n_points, 3))
    return radius * x / np.linalg.norm(x, axis=-1, keepdims=True)  # (S, N, 3) on the sphere's surface


def _cubes(n_sets: int, n_points: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.uniform(-1, 1, size=(n_sets, n_points, 3))
    face = rng.integers(0, 3, size=(n_sets, n_points))
    np.put_along_axis(x, face[..., None], rng.choice([-1.0, 1.0], size=(n_sets, n_points, 1)), axis=-1)
    return x / np.sqrt(3)  # (S, N, 3) on the cube's surface, inside the unit ball


def test_hand_made_two_point_sets():
    x = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    y = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    # x -> y: 0 and 1 (squared) -> mean 0.5; y -> x: 0 and 4 -> mean 2; CD = 2.5
    assert float(chamfer_distance(x, y)) == pytest.approx(2.5)
    # the optimal bijection keeps 0 -> 0 and 1 -> 3: distances 0 and 2, mean 1
    assert float(earth_movers_distance(x, y)) == pytest.approx(1.0)
    # CD is not a bijection: both points of x may pick the same nearest point of z
    z = np.array([[0.5, 0.0, 0.0], [10.0, 0.0, 0.0]])
    assert float(chamfer_distance(x, z)) == pytest.approx(0.25 + (0.25 + 9.0**2) / 2)


def test_self_and_shifted_copy():
    x = _spheres(3, 50, np.random.default_rng(0))
    assert torch.allclose(chamfer_distance(x, x), torch.zeros(3, dtype=torch.float64))
    assert torch.allclose(earth_movers_distance(x, x), torch.zeros(3, dtype=torch.float64), atol=1e-12)
    # a shifted copy of a grid with spacing 1: the shift (norm 0.3) keeps every point's copy its nearest neighbour
    grid = np.stack(np.meshgrid(*[np.arange(3.0)] * 3), axis=-1).reshape(1, 27, 3)  # (1, 27, 3)
    shift = np.array([0.1, 0.2, -0.2])
    assert float(chamfer_distance(grid, grid + shift)[0]) == pytest.approx(2 * 0.3**2, rel=1e-12)
    # EMD of any translated copy is the shift's length: mean ||x - phi(x)|| >= ||mean (x - phi(x))|| = ||shift||
    assert torch.allclose(earth_movers_distance(x, x + shift), torch.full((3,), 0.3, dtype=torch.float64))
    # a single pair of torch sets gives a scalar, the value of the batched numpy call
    single = chamfer_distance(torch.from_numpy(x[0]), torch.from_numpy(x[1]))
    assert single.shape == () and float(single) == pytest.approx(float(chamfer_distance(x[:1], x[1:2])[0]))


def test_chamfer_against_double_loop():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 7, 3)), rng.normal(size=(2, 11, 3))  # sizes may differ
    for b in range(2):
        sq = np.array([[np.sum((p - q) ** 2) for q in y[b]] for p in x[b]])  # (7, 11)
        expected = np.mean([min(row) for row in sq]) + np.mean([min(col) for col in sq.T])
        assert float(chamfer_distance(x, y)[b]) == pytest.approx(expected, rel=1e-10)


def test_emd_against_all_permutations():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 3))
    emd = earth_movers_distance(x, y).numpy()
    for b in range(4):
        cost = np.linalg.norm(x[b][:, None] - y[b][None], axis=-1)  # (5, 5)
        brute = min(cost[range(5), list(p)].mean() for p in itertools.permutations(range(5)))
        assert emd[b] == pytest.approx(brute, rel=1e-10)
        # a bijection can do no better than every point's nearest neighbour, nor worse than the identity matching
        assert cost.min(axis=1).mean() - 1e-12 <= emd[b] <= np.trace(cost) / 5 + 1e-12


def test_pairwise_matrices_equal_per_pair_functions():
    rng = np.random.default_rng(3)
    a, b = _spheres(5, 40, rng), _cubes(4, 40, rng)
    cd_ab = pairwise_chamfer(a, b, batch_size=2)  # chunks that do not divide the sets
    emd_ab = pairwise_emd(a, b, n_jobs=2, progress=False)
    assert cd_ab.shape == emd_ab.shape == (5, 4) and cd_ab.dtype == np.float64
    for i, j in itertools.product(range(5), range(4)):
        assert cd_ab[i, j] == pytest.approx(float(chamfer_distance(a[i], b[j])), rel=1e-9)
        assert emd_ab[i, j] == pytest.approx(float(earth_movers_distance(a[i], b[j])), rel=1e-9)
    np.testing.assert_allclose(_pairwise_chamfer_torch(*map(torch.from_numpy, (a, b)), 3), cd_ab, rtol=1e-9)
    # one argument: the symmetric matrix with a zero diagonal, from half the work
    cd_aa, emd_aa = pairwise_chamfer(a), pairwise_emd(a, progress=False)
    np.testing.assert_allclose(cd_aa, pairwise_chamfer(a, a), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(emd_aa, pairwise_emd(a, a, progress=False), rtol=1e-9, atol=1e-12)
    assert np.all(np.diag(cd_aa) == 0) and np.all(np.diag(emd_aa) == 0)


def test_mmd_and_coverage_on_a_hand_made_matrix():
    # every generated set collapses onto reference 0; the swapped orientation would give MMD 1.23 and COV 0.75
    d_ref_gen = np.array(
        [
            [1.0, 1.5, 1.2],  # ref 0: the nearest reference of all three generated sets
            [2.0, 9.0, 9.0],  # ref 1: nearest generated set at 2.0
            [9.0, 3.0, 9.0],  # ref 2: at 3.0
            [9.0, 9.0, 4.0],  # ref 3: at 4.0
        ]
    )
    assert minimum_matching_distance(d_ref_gen) == pytest.approx((1 + 2 + 3 + 4) / 4)
    assert coverage(d_ref_gen) == pytest.approx(1 / 4)
    assert coverage(torch.from_numpy(d_ref_gen)) == pytest.approx(1 / 4)


def test_one_nna_on_a_hand_made_matrix():
    # two generated sets close to each other, two references close to each other: every neighbour is same-kind
    gg, rr = np.array([[0, 1.0], [1.0, 0]]), np.array([[0, 1.0], [1.0, 0]])
    assert one_nna_accuracy(gg, np.full((2, 2), 5.0), rr) == 1.0
    # each generated set sits on a reference: every neighbour is other-kind
    assert one_nna_accuracy(gg, np.array([[0.1, 5.0], [5.0, 0.1]]), rr) == 0.0


@pytest.mark.parametrize("metric", ["cd", "emd"])
def test_one_nna_matched_and_mismatched_distributions(metric):
    rng = np.random.default_rng(4)
    pairwise = pairwise_chamfer if metric == "cd" else lambda a, b=None: pairwise_emd(a, b, progress=False)
    gen, ref = _spheres(60, 64, rng), _spheres(60, 64, rng)
    same = one_nna_accuracy(pairwise(gen), pairwise(gen, ref), pairwise(ref))
    assert 0.35 <= same <= 0.65
    cubes = _cubes(60, 64, rng)
    apart = one_nna_accuracy(pairwise(cubes), pairwise(cubes, ref), pairwise(ref))
    assert apart >= 0.95


def test_point_cloud_metrics_keys_and_subsampling():
    rng = np.random.default_rng(5)
    gen, ref = _spheres(12, 96, rng), _spheres(10, 96, rng)
    out = point_cloud_metrics(gen, ref, emd_points=32, seed=0)
    assert set(out) == {"mmd_cd", "cov_cd", "1nna_cd", "mmd_emd", "cov_emd", "1nna_emd"}
    assert all(isinstance(v, float) for v in out.values())
    assert out["mmd_cd"] == pytest.approx(pairwise_chamfer(ref, gen).min(axis=1).mean())
    assert 0 < out["cov_cd"] <= 1 and 0 <= out["1nna_emd"] <= 1
    assert point_cloud_metrics(gen, ref, emd_points=32, seed=0) == out  # seeded
    # far-apart sets: MMD grows, 1-NNA saturates
    far = point_cloud_metrics(gen + 3.0, ref, emd_points=32)
    assert far["mmd_emd"] > 2.5 and far["1nna_cd"] == far["1nna_emd"] == 1.0


def test_reference_sets_score_as_arrays_do_and_their_matrices_come_back_from_the_cache(tmp_path, monkeypatch):
    import hf_genzoo.metrics.points as points

    rng = np.random.default_rng(6)
    gen, ref, other = _spheres(9, 48, rng), _cubes(8, 48, rng), _cubes(8, 48, rng)
    plain = point_cloud_metrics(gen, ref, emd_points=16, seed=3)
    refs = ReferenceSets(ref, emd_points=16, seed=3, cache_dir=tmp_path)
    assert point_cloud_metrics(gen, refs) == plain  # the same subsamples and matrices as the array call
    assert point_cloud_metrics(gen + 0.1, refs) == point_cloud_metrics(gen + 0.1, ref, emd_points=16, seed=3)
    (saved,) = tmp_path.glob("references-*.npz")
    assert np.allclose(np.load(saved)["cd"], pairwise_chamfer(ref))
    calls = []

    def counted(f):
        return lambda *sets, **kw: calls.append(len(sets)) or f(*sets, **kw)

    monkeypatch.setattr(points, "pairwise_chamfer", counted(points.pairwise_chamfer))
    monkeypatch.setattr(points, "pairwise_emd", counted(points.pairwise_emd))
    again = ReferenceSets(ref, emd_points=16, seed=3, cache_dir=tmp_path)  # a later process: read, not computed
    assert point_cloud_metrics(gen, again) == plain
    assert sorted(calls) == [1, 1, 2, 2]  # generated x reference and generated x generated only, for CD and EMD
    # other references, or another subsample of them, are other files
    ReferenceSets(other, emd_points=16, seed=3, cache_dir=tmp_path).self_distances("cd", pairwise_chamfer)
    ReferenceSets(ref, emd_points=8, seed=3, cache_dir=tmp_path).self_distances("cd", pairwise_chamfer)
    assert len(list(tmp_path.glob("references-*.npz"))) == 3
    with pytest.raises(ValueError, match="subsample EMD to 16 points, not 8"):
        point_cloud_metrics(gen, refs, emd_points=8)


def test_errors():
    x = np.zeros((2, 8, 3))
    with pytest.raises(ValueError, match="8 and 7 points"):
        earth_movers_distance(x, np.zeros((2, 7, 3)))
    with pytest.raises(ValueError, match="equal size"):
        pairwise_emd(x, np.zeros((2, 7, 3)))
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        chamfer_distance(np.zeros((2, 8, 2)), x)
    with pytest.raises(ValueError, match="NaN"):
        chamfer_distance(np.full((2, 8, 3), np.nan), x)
    with pytest.raises(ValueError, match="non-empty"):
        chamfer_distance(np.zeros((2, 0, 3)), x)
    with pytest.raises(ValueError, match="as many sets"):
        chamfer_distance(np.zeros((3, 8, 3)), x)
    with pytest.raises(ValueError, match=r"\(S, N, 3\)|\(B, N, 3\)"):
        pairwise_chamfer(np.zeros((8, 3)))
    with pytest.raises(ValueError, match="emd_points"):
        point_cloud_metrics(x, x, emd_points=9)
    with pytest.raises(ValueError, match="emd_points <= 7"):
        point_cloud_metrics(x, np.zeros((2, 7, 3)))
    with pytest.raises(ValueError, match=r"\(G, G\), \(G, R\), \(R, R\)"):
        one_nna_accuracy(np.zeros((2, 2)), np.zeros((2, 3)), np.zeros((2, 2)))
