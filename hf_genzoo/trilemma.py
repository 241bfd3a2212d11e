"""The generative learning trilemma, scored: quality, coverage and speed of every image model on the same data.

Xiao et al. (ICLR 2022, arXiv:2112.07804) name the trilemma: GANs sample fast and sharp but drop modes, likelihood
models (VAE, flow) cover the data but blur, diffusion models do both at the cost of many network evaluations. Here
each of those trade-offs is a column. A row is a way to draw images: a trained model, and for a sampler-driven model
one row per sampler. Every row draws `num_samples` images and is scored against the real training images in the
features of a classifier of the same dataset (the family registered with `features=True`; no Inception weights can
be downloaded here):

    FD_local, KID_local     Frechet and kernel distance of the feature distributions (lower is better)
    precision, recall       Kynkaanniemi et al. 2019: samples on the data manifold / data covered by samples
    density, coverage       Naeem et al. 2020: the same, robust to outliers
    label entropy           entropy of the classifier's labels of the samples / log(classes): 1 = every class as often
    NFE                     network evaluations per sample
    images/s                sampling throughput at `batch_size`, the whole draw timed
    bits/dim                test negative log-likelihood where the model has one (see the row's note)
    FID, KID                with `--inception_weights` only: the same in the standard Inception-v3 features

`real test images` is the floor: what a perfect model would score with that many samples. Each family says which
rows it adds (`Family.trilemma_rows`, built from `Row`, `sampled` and the latent probes below) and which claims
about them the benchmark checks (`Family.trilemma_targets`, `Target`). This module scores; the table, the verdict
in words and the plot are the benchmark script's (`benchmarks/trilemma.py`); training the models it scores is
`hf_genzoo.trilemma_bench`'s.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data import load_images
from .errors import UserInputError
from .family import Target, image_data_options
from .hub.loading import load_pipeline
from .metrics import (
    density_coverage,
    frechet_distance_from_stats,
    gaussian_stats,
    kernel_distance,
    label_entropy,
    precision_recall,
)
from .metrics.inception import fid_kid, inception_reference
from .registry import families, get_family
from .samplers import sample_images
from .viz import save_grid

FLOOR = "real test images"


@dataclass
class Row:
    """One way to draw images. `sample(n, generator)` returns `(n, C, H, W)` floats in [0, 1].

    `key` names the row for `Target`s (defaults to `name`); a `probe` is a look at a latent space (decodes of
    test images' codes), not a model's own sampler, and takes no prize."""

    name: str
    sample: Callable[[int, torch.Generator], torch.Tensor] | None
    nfe: int | None = None
    bits_per_dim: float | None = None
    note: str = ""
    probe: bool = False
    key: str = ""
    scores: dict = field(default_factory=dict)
    fd_at_samples: Callable[[int], float] | None = field(default=None, repr=False)  # set by `run`

    def __post_init__(self):
        self.key = self.key or self.name

    def fd_at(self, n: int | None) -> float:
        """FD_local of the row's first `n` samples (its own FD_local when it drew no more than `n`)."""
        drawn = self.scores.get("samples")
        if n is None or drawn is None or n >= drawn or self.fd_at_samples is None:
            return self.scores["FD_local"]
        return self.fd_at_samples(n)


@dataclass
class Context:
    """What a family's `trilemma_rows` may use: real images in [0, 1], the model's held-out metrics, the class
    names of the dataset (for prompts), if it has them."""

    test_images: torch.Tensor  # (n, C, H, W)
    train_images: torch.Tensor  # (m, C, H, W)
    metrics: dict
    label_names: list[str] | None = None


def sampled(pipe, **options) -> Callable[[int, torch.Generator], torch.Tensor]:
    """A row's `sample`: the pipeline drawn as `genzoo sample` draws it (`sample_images`), with `options`."""
    return lambda n, g: sample_images(pipe, n, g, n, **options)


def fitted_gaussian_probe(name: str, pipe, train_images: torch.Tensor) -> Row:
    """Decodes of random latents from a Gaussian fitted to the codes of the training images (for a model with no
    prior of its own: an autoencoder). Needs `pipe.encode` and `pipe.decode`."""
    codes = pipe.encode(train_images).flatten(1).double()  # (N, d)
    mean, cov = codes.mean(0), torch.cov(codes.T) + 1e-6 * torch.eye(codes.shape[1], dtype=codes.dtype)
    scale_tril = torch.linalg.cholesky(cov)
    shape = pipe.encode(train_images[:1]).shape[1:]

    def sample(n, g):
        z = mean + torch.randn(n, len(mean), generator=g, dtype=codes.dtype) @ scale_tril.T  # (n, d)
        return pipe.decode(z.float().view(n, *shape), output_type="pt").images

    return Row(f"{name}: random latents", sample, 1, note="Gaussian fitted to its codes", probe=True)


def midpoints_probe(name: str, pipe, test_images: torch.Tensor) -> Row:
    """Decodes of the midpoints between the codes of two random test images (holes between the data's codes)."""
    codes = pipe.encode(test_images)

    def sample(n, g):
        a, b = torch.randint(0, len(codes), (n,), generator=g), torch.randint(0, len(codes), (n,), generator=g)
        return pipe.decode((codes[a] + codes[b]) / 2, output_type="pt").images

    return Row(f"{name}: midpoints of two test images", sample, 1, probe=True)


def rows_for(family: str, pipe, context: Context) -> list[Row]:
    """The rows a trained model of `family` adds (its `Family.trilemma_rows`)."""
    rows = get_family(family).trilemma_rows
    if rows is None:
        raise UserInputError(f"{family} adds no trilemma rows; those that do: {', '.join(trilemma_families())}")
    return rows(pipe, context)


def trilemma_families() -> list[str]:
    return [name for name, f in families().items() if f.trilemma_rows is not None]


def feature_family() -> str:
    """The family whose pipeline gives the feature space the samples are scored in."""
    return next(name for name, f in families().items() if f.features)


def _images(data, n: int) -> torch.Tensor:
    return torch.from_numpy(np.array(data.images[:n])).float() / 255  # (n, C, H, W) in [0, 1]


def draw(row: Row, n: int, batch_size: int, seed: int) -> tuple[torch.Tensor, float]:
    """`n` images of `row`, `batch_size` at a time from one seeded generator; and the images/s of the whole draw."""
    g = torch.Generator().manual_seed(seed)
    t = time.perf_counter()
    images = torch.cat([row.sample(min(batch_size, n - i), g).float().cpu() for i in range(0, n, batch_size)])
    return images, n / (time.perf_counter() - t)


def reference_set(classifier, dataset: str, n: int) -> dict:
    """Features of the first `n` training images in `classifier`'s space, and their Gaussian statistics."""
    train = load_images(dataset, "train", **image_data_options(classifier))
    images = _images(train, min(n, len(train)))
    features = classifier.features(images).double()
    mu, sigma = gaussian_stats(features)
    return {"features": features, "mu": mu, "sigma": sigma, "images": images}


def score(classifier, images: torch.Tensor, reference: dict, batch_size: int = 256) -> dict:
    """The quality and coverage columns of `images` `(N, C, H, W)` against the real `reference_set`."""
    return _score(classifier, images, reference, batch_size)[0]


def _fd_of_first(features: torch.Tensor, reference: dict) -> Callable[[int], float]:
    """n -> FD_local of the first n rows of `features` against `reference`."""

    def fd(n: int) -> float:
        mu, sigma = gaussian_stats(features[:n])
        return frechet_distance_from_stats(reference["mu"], reference["sigma"], mu, sigma)

    return fd


def _score(classifier, images: torch.Tensor, reference: dict, batch_size: int) -> tuple[dict, torch.Tensor]:
    features = classifier.features(images, max_batch_size=batch_size).double()
    probs = classifier(images, max_batch_size=batch_size).probs
    mu, sigma = gaussian_stats(features)
    subset = min(1000, len(features) // 2, len(reference["features"]) // 2)
    kid = kernel_distance(reference["features"], features, subsets=50, subset_size=subset)
    return {
        "FD_local": frechet_distance_from_stats(reference["mu"], reference["sigma"], mu, sigma),
        "KID_local": kid["mean"],
        **precision_recall(reference["features"], features),
        **density_coverage(reference["features"], features),
        "label_entropy": label_entropy(probs, probs.shape[1])["normalized_entropy"],
    }, features


SLOW_NFE = 100  # rows with at least this many network evaluations per sample draw `slow_samples`


def run(
    models: dict[str, str] | list[tuple[str, str]],
    classifier: str,
    dataset: str,
    num_samples: int,
    batch_size: int = 256,
    seed: int = 0,
    grids_dir: Path | None = None,
    inception_weights: str | None = None,
    log=print,
    slow_samples: int | None = None,
) -> list[Row]:
    """Score every row of the saved `models` ((family, folder or Hub id) pairs; a family may come more than once) in
    `classifier`'s feature space, and with `inception_weights` also as standard FID / KID (`metrics/inception.py`).
    Rows of at least `SLOW_NFE` network evaluations per sample draw `slow_samples` (when given) instead of
    `num_samples`; the targets then compare FD_local at their count."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    clf = load_pipeline(classifier).to(device)
    reference = reference_set(clf, dataset, num_samples)
    if inception_weights:
        inception_ref = inception_reference(reference["images"], inception_weights)
    train, test = load_images(dataset, "train"), load_images(dataset, "test")
    test_images = _images(test, min(num_samples, len(test)))
    floor = Row(FLOOR, None, None, note="the floor")  # drawn below, not sampled
    rows = [floor]
    for family, path in models.items() if isinstance(models, dict) else models:
        pipe = load_pipeline(path).to(device)
        saved = Path(path, "metrics.json")
        metrics = json.loads(saved.read_text())["metrics"] if saved.exists() else {}
        context = Context(test_images, _images(train, min(5000, len(train))), metrics, train.label_names)
        rows += rows_for(family, pipe, context)
    for row in rows:
        n = min(num_samples, len(test_images)) if row is floor else num_samples
        if slow_samples and row.nfe and row.nfe >= SLOW_NFE and slow_samples < n:
            n = slow_samples
            row.note = "; ".join(filter(None, [row.note, f"{n} samples"]))
        images, speed = (test_images[:n], None) if row is floor else draw(row, n, batch_size, seed)
        scores, features = _score(clf, images, reference, batch_size)
        row.scores, row.fd_at_samples = (
            {**scores, "images_per_s": speed, "samples": n},
            _fd_of_first(features, reference),
        )
        if inception_weights:
            row.scores.update(fid_kid(images, inception_ref, inception_weights))
        if grids_dir is not None:
            save_grid(images[:32], Path(grids_dir) / f"{slug(row.name)}.png", ncols=8)
        log(f"{row.name}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.scores.items() if isinstance(v, float)))
    return rows


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def targets(rows: list[Row]) -> list[tuple[Target, dict]]:
    """Every registered family's targets that these rows can be checked against, with the check's numbers."""
    checks = [(t, t.check(rows)) for f in families().values() for t in f.trilemma_targets]
    return [(t, c) for t, c in checks if c is not None]
