"""The evaluation protocol of point-cloud generative models: distances between two point sets (CD, EMD) and, from
matrices of them, the set metrics MMD, COV and 1-NNA.

- Achlioptas et al. 2018, "Learning Representations and Generative Models for 3D Point Clouds" (MMD and COV with CD
  and EMD), https://arxiv.org/abs/1707.02392
- Yang et al. 2019, "PointFlow: 3D Point Cloud Generation with Continuous Normalizing Flows" (1-NNA; the definitions
  used here), https://arxiv.org/abs/1906.12320
- Luo & Hu 2021, "Diffusion Probabilistic Models for 3D Point Cloud Generation", https://arxiv.org/abs/2103.01458

Conventions (those of PointFlow's and Luo & Hu's code): CD is the *squared* Euclidean distance to the nearest point,
averaged over the points of each set and summed over the two directions; EMD is the mean *non-squared* Euclidean
distance under the optimal bijection. Other papers take non-squared distances or sums over points, and many print
MMD-CD x 10^3 and MMD-EMD x 10^2: the values here are unscaled. Point sets are `(B, N, 3)` float arrays or tensors.
"""

import hashlib
import os
from functools import partial
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from tqdm.auto import tqdm

from ..errors import UserInputError

Array = torch.Tensor | np.ndarray


def _as_points(x: Array, name: str, ndims: tuple[int, ...] = (2, 3)) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to(torch.float64)
    if x.ndim not in ndims or x.shape[-1] != 3 or 0 in x.shape:
        shapes = " or ".join({2: "(N, 3)", 3: "(B, N, 3)"}[n] for n in ndims)
        raise UserInputError(f"{name} must be a non-empty {shapes} point set, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise UserInputError(f"{name} holds NaN or infinite coordinates")
    return x


def _as_pair(x: Array, y: Array) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.ndim != y.ndim or (x.ndim == 3 and len(x) != len(y)):
        raise UserInputError(f"x and y must hold as many sets, got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    return x, y.to(x.device)


def _cdist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # from the coordinate differences, not |x|^2 + |y|^2 - 2 x.y: a set against itself gives exactly 0, not ~1e-9
    return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")


def chamfer_distance(x: Array, y: Array) -> torch.Tensor:
    """Chamfer distance, in the convention of PointFlow and Luo & Hu 2021:

        CD(X, Y) = mean_{x in X} min_{y in Y} ||x - y||^2 + mean_{y in Y} min_{x in X} ||x - y||^2

    (squared distances, means over points, the two directions summed; other papers take non-squared distances or
    sums over points, so compare only numbers computed the same way).

    Args:
        x, y (`torch.Tensor` or `np.ndarray` of shape `(B, N, 3)` and `(B, M, 3)`, or `(N, 3)` and `(M, 3)`): the
            point sets, compared pair by pair along `B`; N and M may differ.

    Returns:
        `torch.Tensor`: float64 of shape `(B,)`, or a scalar for single sets, on the device of `x`.
    """
    x, y = _as_pair(x, y)
    d = _cdist(x, y).square()  # (B, N, M) or (N, M)
    return d.amin(-1).mean(-1) + d.amin(-2).mean(-1)


def _emd_of_cost(cost: np.ndarray) -> float:
    rows, cols = linear_sum_assignment(cost)  # the optimal bijection, exact (Jonker-Volgenant)
    return float(cost[rows, cols].mean())


def earth_movers_distance(x: Array, y: Array) -> torch.Tensor:
    """Earth mover's distance between sets of equal size: the mean Euclidean (non-squared) distance between matched
    points under the optimal bijection phi, EMD(X, Y) = min_phi mean_{x in X} ||x - phi(x)||, solved exactly with
    `scipy.optimize.linear_sum_assignment` (about 1 s for 2048 points, a few ms for 256).

    Args:
        x, y (`torch.Tensor` or `np.ndarray` of shape `(B, N, 3)`, or `(N, 3)`): the point sets, compared pair by pair.

    Returns:
        `torch.Tensor`: float64 of shape `(B,)`, or a scalar for single sets.
    """
    x, y = _as_pair(x, y)
    if x.shape[-2] != y.shape[-2]:
        raise UserInputError(f"EMD needs sets of equal size, got {x.shape[-2]} and {y.shape[-2]} points")
    cost = _cdist(x, y).cpu().numpy()  # (B, N, N) or (N, N)
    if cost.ndim == 2:
        return torch.tensor(_emd_of_cost(cost), dtype=torch.float64)
    return torch.tensor([_emd_of_cost(c) for c in cost], dtype=torch.float64)  # (B,)


def _nn_sq_means(queries: np.ndarray, targets: np.ndarray, batch_size: int) -> np.ndarray:
    """(S, T): mean over the points of query set s of the squared distance to the nearest point of target set t."""
    out = np.empty((len(queries), len(targets)))
    trees = [cKDTree(t) for t in targets]
    for s0 in range(0, len(queries), batch_size):
        chunk = queries[s0 : s0 + batch_size]  # (c, N, 3)
        flat, owner = chunk.reshape(-1, 3), np.repeat(np.arange(len(chunk)), chunk.shape[1])  # (c N, 3), (c N,)
        order = cKDTree(flat).indices  # a spatial order: neighbouring queries walk the same branches, ~1.5x faster
        flat, owner = flat[order], owner[order]
        for t, tree in enumerate(trees):
            dist = tree.query(flat, workers=-1)[0]  # (c N,)
            out[s0 : s0 + len(chunk), t] = np.bincount(owner, weights=dist**2, minlength=len(chunk))
    return out / queries.shape[1]


def pairwise_chamfer(A: Array, B: Array | None = None, *, batch_size: int = 16) -> np.ndarray:
    """Chamfer distance (`chamfer_distance`'s convention) between every set of `A` and every set of `B`.

    On CPU the nearest neighbours come from k-d trees (`scipy.spatial.cKDTree`, all cores), under 1 ms a pair of
    2048-point sets on two cores; sets on a CUDA device are compared by `torch.cdist`, `batch_size` pairs at once.

    Args:
        A (`torch.Tensor` or `np.ndarray` of shape `(S, N, 3)`): the row sets.
        B (`torch.Tensor` or `np.ndarray` of shape `(T, M, 3)`, *optional*): the column sets; defaults to `A` (the
            symmetric matrix is then computed once).
        batch_size (`int`, *optional*, defaults to 16): sets handled at once: `batch_size * N` queries to a tree, or
            `batch_size * N * M` distances on a CUDA device.

    Returns:
        `np.ndarray`: float64 of shape `(S, T)`, entry `[i, j]` = CD(A[i], B[j]).
    """
    if batch_size < 1:
        raise UserInputError(f"batch_size must be >= 1, got {batch_size}")
    a = _as_points(A, "A", ndims=(3,))
    b = a if B is None else _as_points(B, "B", ndims=(3,)).to(a.device)
    if a.device.type == "cuda":
        return _pairwise_chamfer_torch(a, b, batch_size)
    a_np, b_np = a.cpu().numpy(), b.cpu().numpy()
    forward = _nn_sq_means(a_np, b_np, batch_size)  # (S, T): A's points to B's sets
    backward = forward.T if B is None else _nn_sq_means(b_np, a_np, batch_size).T  # (S, T): B's points to A's sets
    return forward + backward


def _pairwise_chamfer_torch(a: torch.Tensor, b: torch.Tensor, batch_size: int) -> np.ndarray:
    out = torch.empty(len(a), len(b), dtype=torch.float64)
    for i in range(len(a)):
        for j0 in range(0, len(b), batch_size):
            y = b[j0 : j0 + batch_size]  # (c, M, 3)
            out[i, j0 : j0 + len(y)] = chamfer_distance(a[i].expand(len(y), -1, -1), y).cpu()  # (c,)
    return out.numpy()


def _emd_row(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(x)  # (N, 3)
    return np.array([_emd_of_cost(_cdist(x, torch.from_numpy(y)).numpy()) for y in ys])  # (T,), one (N, N) at a time


def pairwise_emd(A: Array, B: Array | None = None, *, n_jobs: int = 1, progress: bool | None = None) -> np.ndarray:
    """Earth mover's distance (`earth_movers_distance`'s convention) between every set of `A` and every set of `B`.

    Exact assignments cost about 1 s a pair of 2048-point sets and a few ms a pair of 256-point sets; subsample first
    (`point_cloud_metrics(..., emd_points=...)`) or spread the rows over processes with `n_jobs`.

    Args:
        A (`torch.Tensor` or `np.ndarray` of shape `(S, N, 3)`): the row sets.
        B (`torch.Tensor` or `np.ndarray` of shape `(T, N, 3)`, *optional*): the column sets, of the same size N;
            defaults to `A`, when only the pairs i < j are solved.
        n_jobs (`int`, *optional*, defaults to 1): worker processes (joblib; -1 = all cores), one row per task.
        progress (`bool`, *optional*): show a tqdm bar over the rows; defaults to showing it on a terminal only.

    Returns:
        `np.ndarray`: float64 of shape `(S, T)`, entry `[i, j]` = EMD(A[i], B[j]).
    """
    a = _as_points(A, "A", ndims=(3,)).cpu().numpy()
    b = a if B is None else _as_points(B, "B", ndims=(3,)).cpu().numpy()
    if a.shape[1] != b.shape[1]:
        raise UserInputError(f"EMD needs sets of equal size, got {a.shape[1]} and {b.shape[1]} points")
    rows = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_emd_row)(a[i], b if B is not None else a[i + 1 :]) for i in range(len(a))
    )
    out = np.zeros((len(a), len(b)))
    for i, row in enumerate(tqdm(rows, total=len(a), desc="EMD", disable=None if progress is None else not progress)):
        if B is None:  # the upper triangle; the diagonal stays 0
            out[i, i + 1 :] = out[i + 1 :, i] = row
        else:
            out[i] = row
    return out


def _as_matrix(d: Array, name: str) -> np.ndarray:
    d = torch.as_tensor(d).detach().cpu().to(torch.float64).numpy()
    if d.ndim != 2 or 0 in d.shape or np.isnan(d).any():
        raise UserInputError(f"{name} must be a non-empty 2-D distance matrix without NaN, got shape {d.shape}")
    return d


def minimum_matching_distance(d_ref_gen: Array) -> float:
    """MMD ([Achlioptas et al. 2018](https://arxiv.org/abs/1707.02392)): for each reference set, the distance to its
    nearest generated set, averaged over the references (fidelity; lower is better).

    Args:
        d_ref_gen (`np.ndarray` or `torch.Tensor` of shape `(R, G)`): rows are reference sets, columns generated ones.
    """
    return float(_as_matrix(d_ref_gen, "d_ref_gen").min(axis=1).mean())


def coverage(d_ref_gen: Array) -> float:
    """COV ([Achlioptas et al. 2018](https://arxiv.org/abs/1707.02392)): the fraction of reference sets that are the
    nearest reference of at least one generated set (diversity; in [0, 1], higher is better).

    Args:
        d_ref_gen (`np.ndarray` or `torch.Tensor` of shape `(R, G)`): rows are reference sets, columns generated ones.
    """
    d = _as_matrix(d_ref_gen, "d_ref_gen")
    return len(np.unique(d.argmin(axis=0))) / d.shape[0]


def one_nna_accuracy(d_gen_gen: Array, d_gen_ref: Array, d_ref_ref: Array) -> float:
    """1-NNA ([Yang et al. 2019](https://arxiv.org/abs/1906.12320)): the leave-one-out accuracy of the 1-nearest-
    neighbour classifier that tells generated from reference sets in their union. 0.5 when the two are
    indistinguishable, 1.0 when they are apart (lower is better, down to 0.5).

    Args:
        d_gen_gen (`np.ndarray` or `torch.Tensor` of shape `(G, G)`): between generated sets (the diagonal is ignored).
        d_gen_ref (`np.ndarray` or `torch.Tensor` of shape `(G, R)`): rows generated, columns reference sets.
        d_ref_ref (`np.ndarray` or `torch.Tensor` of shape `(R, R)`): between reference sets (diagonal ignored).
    """
    names = ("d_gen_gen", "d_gen_ref", "d_ref_ref")
    gg, gr, rr = map(_as_matrix, (d_gen_gen, d_gen_ref, d_ref_ref), names)
    g, r = gr.shape
    if gg.shape != (g, g) or rr.shape != (r, r):
        raise UserInputError(f"need (G, G), (G, R), (R, R) matrices, got {gg.shape}, {gr.shape}, {rr.shape}")
    d = np.block([[gg, gr], [gr.T, rr]])  # (G + R, G + R)
    np.fill_diagonal(d, np.inf)  # leave one out: a set is not its own neighbour
    is_ref = np.arange(g + r) >= g  # (G + R,)
    return float((is_ref[d.argmin(axis=1)] == is_ref).mean())


def _subsample(sets: torch.Tensor, n: int, rng: np.random.Generator) -> torch.Tensor:
    if not 1 <= n <= sets.shape[1]:
        raise UserInputError(f"emd_points must be in [1, {sets.shape[1]}] (the points per set), got {n}")
    keep = np.argsort(rng.random(sets.shape[:2]), axis=1)[:, :n]  # (S, n): a random subset of each set, no repeats
    return torch.take_along_dim(sets, torch.from_numpy(keep).to(sets.device)[..., None], dim=1)  # (S, n, 3)


METRICS_VERSION = 1  # part of every cached matrix's key: a change to the distances above must bump it


class ReferenceSets:
    """The reference (held-out) sets of `point_cloud_metrics` with their own distance matrices, computed once.

    Every score against the same references needs the reference-reference CD and EMD matrices, a quarter of the
    pairs; the benchmark scores several rows and `genzoo evaluate` runs once a process. A `ReferenceSets` computes
    them on first use and keeps them; with `cache_dir`, also as one `.npz` file per references (keyed by a hash of
    their points, `emd_points`, `seed` and `METRICS_VERSION`), which later processes read instead.

    Args:
        reference (`torch.Tensor` or `np.ndarray` of shape `(R, M, 3)`): the reference sets, normalized as the
            generated sets will be.
        emd_points (`int`, *optional*): subsample each set to this many points for the EMD (see
            `point_cloud_metrics`); defaults to all points.
        seed (`int`, *optional*, defaults to 0): seeds the subsampling (the generated sets draw from another stream).
        cache_dir (`str` or `os.PathLike`, *optional*): where the matrices are kept between processes.
    """

    def __init__(
        self,
        reference: Array,
        *,
        emd_points: int | None = None,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
    ):
        self.points = _as_points(reference, "reference", ndims=(3,))
        self.emd_points, self.seed = emd_points, seed
        self.emd_sets = self.points if emd_points is None else _subsample(self.points, emd_points, _rng(seed, 1))
        self.path = None
        if cache_dir is not None:
            digest = hashlib.sha256(self.points.detach().cpu().to(torch.float32).numpy().tobytes())
            digest.update(repr((emd_points, seed, METRICS_VERSION)).encode())
            self.path = Path(cache_dir) / f"references-{digest.hexdigest()[:20]}.npz"
        self.matrices = {}
        if self.path is not None and self.path.exists():
            with np.load(self.path) as saved:
                self.matrices = {name: saved[name] for name in saved.files}

    def self_distances(self, name: str, pairwise) -> np.ndarray:
        """The `(R, R)` matrix of distance `name` ("cd" or "emd") between the references, computed once."""
        if name not in self.matrices:
            self.matrices[name] = pairwise(self.points if name == "cd" else self.emd_sets)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                partial_file = self.path.with_name(f"{self.path.stem}.{os.getpid()}.tmp.npz")
                np.savez(partial_file, **self.matrices)
                partial_file.replace(self.path)  # whole or absent: a reader never sees half a file
        return self.matrices[name]


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])  # stream 0: generated sets, 1: references


def point_cloud_metrics(
    generated: Array,
    reference: Array | ReferenceSets,
    *,
    emd_points: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    n_jobs: int = 1,
    progress: bool = False,
) -> dict[str, float]:
    """MMD, COV and 1-NNA with both CD and EMD, as in PointFlow's `compute_all_metrics`.

    Both sets must be normalized the same way by the caller; the package's point-set data is centred and scaled into
    the unit ball (`hf_genzoo.data.points`), and so should the generated sets be before they are compared.

    Args:
        generated (`torch.Tensor` or `np.ndarray` of shape `(G, N, 3)`): the generated sets.
        reference (`torch.Tensor` or `np.ndarray` of shape `(R, M, 3)`, or `ReferenceSets`): the reference (test)
            sets; a `ReferenceSets` brings its own `emd_points`, `seed` and reference-reference matrices.
        emd_points (`int`, *optional*): subsample each set to this many points (seeded, without replacement) for the
            EMD metrics only. The exact assignment on 2048 points costs ~1 s a pair, and there are
            G R + G (G - 1) / 2 + R (R - 1) / 2 pairs; 256 points cost a few ms. Defaults to all points (N must = M).
        seed (`int`, *optional*, defaults to 0): seeds the subsampling.
        batch_size (`int`, *optional*, defaults to 16): see `pairwise_chamfer`.
        n_jobs (`int`, *optional*, defaults to 1): see `pairwise_emd`.
        progress (`bool`, *optional*, defaults to `False`): show tqdm bars for the EMD matrices.

    Returns:
        `dict`: floats `mmd_cd`, `cov_cd`, `1nna_cd`, `mmd_emd`, `cov_emd`, `1nna_emd`; COV and 1-NNA are fractions.
    """
    if isinstance(reference, ReferenceSets):
        if emd_points not in (None, reference.emd_points):
            raise UserInputError(
                f"these ReferenceSets subsample EMD to {reference.emd_points} points, not {emd_points}"
            )
        refs, emd_points, seed = reference, reference.emd_points, reference.seed
    else:
        refs = ReferenceSets(reference, emd_points=emd_points, seed=seed)
    gen = _as_points(generated, "generated", ndims=(3,))
    ref = refs.points.to(gen.device)
    if emd_points is not None:
        gen_emd, ref_emd = _subsample(gen, emd_points, _rng(seed, 0)), refs.emd_sets.to(gen.device)
    elif gen.shape[1] != ref.shape[1]:
        raise UserInputError(
            f"EMD needs sets of equal size, got {gen.shape[1]} generated and {ref.shape[1]} reference points a set: "
            f"pass emd_points <= {min(gen.shape[1], ref.shape[1])}"
        )
    else:
        gen_emd, ref_emd = gen, ref

    cd = partial(pairwise_chamfer, batch_size=batch_size)
    emd = partial(pairwise_emd, n_jobs=n_jobs, progress=progress)
    out = {}
    for name, pairwise, g, r in (("cd", cd, gen, ref), ("emd", emd, gen_emd, ref_emd)):
        d_ref_gen = pairwise(r, g)  # (R, G)
        out[f"mmd_{name}"] = minimum_matching_distance(d_ref_gen)
        out[f"cov_{name}"] = coverage(d_ref_gen)
        out[f"1nna_{name}"] = one_nna_accuracy(pairwise(g), d_ref_gen.T, refs.self_distances(name, pairwise))
    return out
