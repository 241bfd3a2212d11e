"""The generative learning trilemma, measured: quality, coverage and speed of every image model on the same data.

Xiao et al. (ICLR 2022, arXiv:2112.07804) name the trilemma: GANs sample fast and sharp but drop modes, likelihood
models (VAE, flow) cover the data but blur, diffusion models do both at the cost of many network evaluations. Here
each of those trade-offs is a column. A row is a way to draw images: a trained model, and for diffusion a sampler.
Every row draws `num_samples` images and is scored against the real training images in the features of a
classifier of the same dataset (`ImageClassifier`; no Inception weights can be downloaded here):

    FD_local, KID_local     Frechet and kernel distance of the feature distributions (lower is better)
    precision, recall       Kynkaanniemi et al. 2019: samples on the data manifold / data covered by samples
    density, coverage       Naeem et al. 2020: the same, robust to outliers
    label entropy           entropy of the classifier's labels of the samples / log(classes): 1 = every class as often
    NFE                     network evaluations per sample
    images/s                sampling throughput at `batch_size`, the whole draw timed
    bits/dim                test negative log-likelihood where the model has one (flow exact, VAE an ELBO bound)
    FID, KID                with `--inception_weights` only: the same in the standard Inception-v3 features

`real test images` is the floor: what a perfect model would score with that many samples. The autoencoder and VAE
also get latent-space probes: decodes of random latents (the autoencoder has no prior, so a Gaussian fitted to its
training codes) and of midpoints between two encoded test images. A row is a `Row(name, sample, nfe)`: a model
that comes later joins with a few lines in `rows_for`.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .data import load_images
from .hub.loading import load_pipeline
from .metrics import (density_coverage, frechet_distance_from_stats, gaussian_stats, kernel_distance, label_entropy,
                      precision_recall)  # fmt: skip
from .models.unet import TINY_UNET, as_model_config
from .samplers import sample_images

DIFFUSION_SAMPLERS = [("ddpm", 1000), ("ddim", 50), ("dpmsolver++", 20), ("dpmsolver++", 10)]
FAMILIES = ("conv_autoencoder", "vae", "gan", "flow", "ddpm")


@dataclass
class Row:
    """One way to draw images. `sample(n, generator)` returns `(n, C, H, W)` floats in [0, 1]."""

    name: str
    sample: Callable[[int, torch.Generator], torch.Tensor]
    nfe: int | None = None
    bits_per_dim: float | None = None
    note: str = ""
    probe: bool = False  # a look at a latent space (decodes of test images' codes), not a model's own sampler
    scores: dict = field(default_factory=dict)


def _images(data, n: int) -> torch.Tensor:
    return torch.from_numpy(np.array(data.images[:n])).float() / 255  # (n, C, H, W) in [0, 1]


def _random_pairs(n: int, pool: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(0, pool, (n,), generator=generator), torch.randint(0, pool, (n,), generator=generator)


def rows_for(family: str, pipe, test_images: torch.Tensor, train_images: torch.Tensor, metrics: dict) -> list[Row]:
    """The rows of one trained model (see the module docstring)."""

    def drawn(**kw):  # `sample_images` is how `genzoo sample` draws from every family
        return lambda n, g: sample_images(pipe, n, g, n, **kw)[0]

    if family == "vae":
        return [Row("vae", drawn(), 1, metrics.get("bits_per_dim"), "ELBO bound"),
                Row("vae: midpoints of two test images", _midpoints(pipe, pipe.encode(test_images)), 1, probe=True)]  # fmt: skip
    if family.endswith("autoencoder"):
        codes = pipe.encode(train_images).flatten(1).double()  # (N, d)
        mean, cov = codes.mean(0), torch.cov(codes.T) + 1e-6 * torch.eye(codes.shape[1], dtype=codes.dtype)
        scale_tril = torch.linalg.cholesky(cov)
        shape = pipe.encode(train_images[:1]).shape[1:]

        def random_latents(n, g):
            z = mean + torch.randn(n, len(mean), generator=g, dtype=codes.dtype) @ scale_tril.T  # (n, d)
            return pipe.decode(z.float().view(n, *shape), output_type="pt").images

        return [Row(f"{family}: random latents", random_latents, 1, note="Gaussian fitted to its codes", probe=True),
                Row(f"{family}: midpoints of two test images", _midpoints(pipe, pipe.encode(test_images)), 1,
                    probe=True)]  # fmt: skip
    if family == "gan":
        return [Row("gan", drawn(), 1)]
    if family == "flow":  # the whole test split's, from training; else exact on the test images scored here
        bpd = metrics.get("bits_per_dim")
        if bpd is None:
            bpd = pipe.bits_per_dim(test_images, generator=torch.Generator().manual_seed(0)).mean().item()
        return [Row(f"flow T={t}", drawn(temperature=t), 1, bpd if t == 1.0 else None, "exact" if t == 1.0 else "")
                for t in (1.0, 0.7)]  # fmt: skip
    if family == "ddpm":
        return [Row(f"{'DDPM' if s == 'ddpm' else s} {k}", drawn(scheduler=s, steps=k), k) for s, k in DIFFUSION_SAMPLERS]
    raise ValueError(f"no trilemma rows for {family!r}; known: {', '.join(FAMILIES)}")


def _midpoints(pipe, codes: torch.Tensor):
    def sample(n, g):
        a, b = _random_pairs(n, len(codes), g)
        return pipe.decode((codes[a] + codes[b]) / 2, output_type="pt").images

    return sample


def draw(row: Row, n: int, batch_size: int, seed: int) -> tuple[torch.Tensor, float]:
    """`n` images of `row`, `batch_size` at a time from one seeded generator; and the images/s of the whole draw."""
    g = torch.Generator().manual_seed(seed)
    t = time.perf_counter()
    images = torch.cat([row.sample(min(batch_size, n - i), g).float().cpu() for i in range(0, n, batch_size)])
    return images, n / (time.perf_counter() - t)


def reference_set(classifier, dataset: str, n: int) -> dict:
    """Features of the first `n` training images in `classifier`'s space, and their Gaussian statistics."""
    config = classifier.classifier.config
    train = load_images(dataset, "train", resolution=config.sample_size, channels=config.in_channels)
    images = _images(train, min(n, len(train)))
    features = classifier.features(images).double()
    mu, sigma = gaussian_stats(features)
    return {"features": features, "mu": mu, "sigma": sigma, "images": images}


def score(classifier, images: torch.Tensor, reference: dict, batch_size: int = 256) -> dict:
    """The quality and coverage columns of `images` `(N, C, H, W)` against the real `reference_set`."""
    features = classifier.features(images, batch_size=batch_size).double()
    probs = classifier(images, batch_size=batch_size).probs
    mu, sigma = gaussian_stats(features)
    kid = kernel_distance(reference["features"], features, subsets=50,
                          subset_size=min(1000, len(features) // 2, len(reference["features"]) // 2))  # fmt: skip
    return {"FD_local": frechet_distance_from_stats(reference["mu"], reference["sigma"], mu, sigma),
            "KID_local": kid["mean"], **precision_recall(reference["features"], features),
            **density_coverage(reference["features"], features),
            "label_entropy": label_entropy(probs, probs.shape[1])["normalized_entropy"]}  # fmt: skip


def run(models: dict[str, str], classifier: str, dataset: str, num_samples: int, batch_size: int = 256,
        seed: int = 0, grids_dir: Path | None = None, inception_weights: str | None = None, log=print) -> list[Row]:  # fmt: skip
    """Score every row of the saved `models` (family -> folder or Hub id) in `classifier`'s feature space, and with
    `inception_weights` also as standard FID / KID (`metrics/inception.py`)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    clf = load_pipeline(classifier).to(device)
    reference = reference_set(clf, dataset, num_samples)
    if inception_weights:
        from .metrics.inception import fid_kid, inception_reference

        inception_ref = inception_reference(reference["images"], inception_weights)
    train, test = load_images(dataset, "train"), load_images(dataset, "test")
    test_images = _images(test, min(num_samples, len(test)))
    floor = Row("real test images", None, None, note="the floor")  # drawn below, not sampled
    rows = [floor]
    for family, path in models.items():
        pipe = load_pipeline(path).to(device)
        metrics = json.loads((Path(path) / "metrics.json").read_text())["metrics"] if Path(path, "metrics.json").exists() else {}
        rows += rows_for(family, pipe, test_images, _images(train, min(5000, len(train))), metrics)
    for row in rows:
        n = min(num_samples, len(test_images)) if row is floor else num_samples
        images, speed = (test_images[:n], None) if row is floor else draw(row, n, batch_size, seed)
        row.scores = {**score(clf, images, reference, batch_size), "images_per_s": speed, "samples": n}
        if inception_weights:
            row.scores.update(fid_kid(images, inception_ref, inception_weights))
        if grids_dir is not None:
            from .viz import save_grid

            save_grid(images[:32], Path(grids_dir) / f"{slug(row.name)}.png", ncols=8)
        log(f"{row.name}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.scores.items() if isinstance(v, float)))
    return rows


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def table(rows: list[Row]) -> str:
    """The Markdown table: one line per row, the best model's value of each quality column in bold."""
    cols = ["FD_local", "KID_local", "precision", "recall", "density", "coverage", "label_entropy"]
    cols += [c for c in ("FID", "KID") if rows and c in rows[0].scores]  # with --inception_weights
    lower = {"FD_local", "KID_local", "FID", "KID"}
    models = [r for r in rows if r.nfe is not None and not r.probe]
    best = {c: (min if c in lower else max)(r.scores[c] for r in models) for c in cols} if models else {}
    lines = ["| model | " + " | ".join(cols) + " | NFE | images/s | bits/dim |",
             "|---|" + "---|" * (len(cols) + 3)]  # fmt: skip
    for r in rows:
        cells = [(f"**{r.scores[c]:.3g}**" if r.nfe is not None and r.scores[c] == best.get(c) else f"{r.scores[c]:.3g}")
                 for c in cols]  # fmt: skip
        speed = "" if r.scores["images_per_s"] is None else rate(r.scores["images_per_s"])
        bpd = "" if r.bits_per_dim is None else f"{r.bits_per_dim:.3f}" + (f" ({r.note})" if r.note else "")
        name = r.name if r.bits_per_dim is not None or not r.note else f"{r.name} ({r.note})"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {r.nfe or ''} | {speed} | {bpd} |")
    return "\n".join(lines)


def rate(images_per_s: float) -> str:
    """`9,226` or, for slow samplers, three significant digits (`0.365`) rather than a rounded `0`."""
    return f"{images_per_s:,.0f}" if images_per_s >= 100 else f"{images_per_s:.3g}"


def verdict(rows: list[Row]) -> str:
    """What the table says, in words: the winner of each corner of the trilemma, the floor, and the fast diffusion
    sampler against its own 1000-step DDPM (the issue's target: FD_local within 15% at under 3% of the time). Latent
    probes are not models: they decode test images' codes."""
    models = [r for r in rows if r.nfe is not None and not r.probe]
    if not models:
        return ""
    quality = min(models, key=lambda r: r.scores["FD_local"])
    speed = max(models, key=lambda r: r.scores["images_per_s"])
    recall = max(models, key=lambda r: r.scores["recall"])
    coverage = max(models, key=lambda r: r.scores["coverage"])
    lines = [f"- **Quality**: {quality.name} (FD_local {quality.scores['FD_local']:.3g}).",
             f"- **Speed**: {speed.name} ({rate(speed.scores['images_per_s'])} images/s, NFE {speed.nfe}).",
             f"- **Coverage**: {recall.name} by recall ({recall.scores['recall']:.3g}), "
             f"{coverage.name} by coverage ({coverage.scores['coverage']:.3g})."]  # fmt: skip
    floor = next((r for r in rows if r.nfe is None), None)
    if floor is not None:
        f = floor.scores
        lines.append(f"- **Floor**: {f['samples']} real test images against the training images score FD_local "
                     f"{f['FD_local']:.3g}, KID_local {f['KID_local']:.2g}, precision {f['precision']:.3g}, recall "
                     f"{f['recall']:.3g}: what a perfect model would score with this many samples.")  # fmt: skip
    ddpm = next((r for r in models if r.name == "DDPM 1000"), None)
    fast = next((r for r in models if r.name == "dpmsolver++ 20"), None)
    if ddpm is not None and fast is not None:
        fd = fast.scores["FD_local"] / ddpm.scores["FD_local"]
        time = ddpm.scores["images_per_s"] / fast.scores["images_per_s"]  # time per image, fast / ddpm
        lines.append(f"- **DPM-Solver++ 20 against DDPM 1000** (same network): FD_local x{fd:.2f} "
                     f"({'meets' if fd <= 1.15 else 'misses'} the target of at most x1.15) at {100 * time:.1f}% of "
                     f"the sampling time ({'meets' if time < 0.03 else 'misses'} the target of under 3%).")  # fmt: skip
    return "\n".join(lines)


def plot(rows: list[Row], path: Path) -> Path:
    """Quality (FD_local) against sampling time per image, both log scale; marker area grows with recall."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    floor = next((r for r in rows if r.nfe is None), None)
    for r in rows:
        if r.nfe is None:
            continue
        x, y = 1000 / r.scores["images_per_s"], max(r.scores["FD_local"], 1e-6)
        ax.scatter(x, y, s=40 + 600 * r.scores["recall"], alpha=0.6)
        ax.annotate(r.name, (x, y), fontsize=8, xytext=(5, 5), textcoords="offset points")
    if floor is not None:
        ax.axhline(max(floor.scores["FD_local"], 1e-6), color="grey", ls="--", lw=1)
        ax.text(0.01, max(floor.scores["FD_local"], 1e-6), " real test images (the floor)", fontsize=8, color="grey",
                va="bottom", transform=ax.get_yaxis_transform())  # x in axes fractions, y in data  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="sampling time per image (ms, log)", ylabel="FD_local (log, lower is better)",
           title="The trilemma: quality vs speed; marker size = recall (coverage)")  # fmt: skip
    from matplotlib.ticker import FormatStrFormatter

    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))  # 0.1, 1000 rather than 10^-1, 10^3
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# --- the command: `genzoo bench` and benchmarks/trilemma.py

QUICK_MODELS = {  # digits in seconds: enough to run every code path, not to compare models
    "classifier": ("block_out_channels=(16, 32)", 150),
    "conv_autoencoder": ("block_out_channels=(8, 16),latent_dim=8", 100),
    "vae": ("block_out_channels=(8, 16),latent_dim=4", 100),
    "gan": ("block_out_channels=(8, 16),latent_dim=8", 100),
    "flow": ("num_levels=2,steps_per_level=2,hidden_channels=8", 50),
    "ddpm": (as_model_config(TINY_UNET), 100),
}


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", default="fashion_mnist", help="dataset (default: fashion_mnist)")
    parser.add_argument("--num_samples", type=int, default=10_000, help="samples per row (default: 10000; 1000 is quick)")
    parser.add_argument("--models", default="", help="family=FOLDER_OR_HUB_ID,... to score instead of training them")
    parser.add_argument("--families", default=",".join(FAMILIES), help=f"rows to include (default: {','.join(FAMILIES)})")
    parser.add_argument("--classifier", default=None, help="the feature classifier (default: trained, then reused)")
    parser.add_argument("--epochs", default="", help="family=EPOCHS,... for the models trained here (default: recipes)")
    parser.add_argument("--work_dir", default="genzoo-trilemma", help="where trained models go and are reused from")
    parser.add_argument("--batch_size", type=int, default=256, help="sampling batch size (default: 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="digits, tiny models, at most 100 samples: checks that it runs")
    parser.add_argument("--inception_weights", default=None, metavar="PATH",
                        help="torch-fidelity's Inception-v3 weights (weights-inception-2015-12-05-6726825d.pth): also "
                             "report standard FID and KID, comparable to papers (needs hf_genzoo[fidelity])")  # fmt: skip


def ensure_model(family: str, dataset: str, work_dir: Path, epochs: int | None, quick: bool, log=print) -> str:
    """The folder of a trained `family` model under `work_dir`, training it with its recipe when it is not there."""
    from .training import make_config, train

    out = Path(work_dir) / f"{dataset}-{family}"
    extra = {"epochs": epochs} if epochs else {}
    if quick:
        extra = {"model_config": QUICK_MODELS[family][0], "max_steps": QUICK_MODELS[family][1], "batch_size": 32,
                 "mixed_precision": "no"}  # fmt: skip
    if (out / "model_index.json").exists():
        saved = json.loads((out / "train_config.json").read_text())
        if all(saved.get(k) == v for k, v in extra.items()):
            return str(out)
        raise ValueError(f"{out} holds a {family} trained with other settings; remove it or pick another --work_dir")
    log(f"training {family} on {dataset} into {out}")
    train(make_config(family, dataset=dataset, output_dir=str(out), checkpointing_steps=0, report_to="none", **extra))
    return str(out)


def bench(args, log=print) -> tuple[list[Row], str]:
    """Train (or take) the models and the classifier, score every row; returns the rows and the Markdown table."""
    if args.quick:
        args.dataset, args.num_samples = "digits", min(args.num_samples, 100)
    given = dict(part.split("=", 1) for part in filter(None, args.models.split(",")))
    epochs = {k: int(v) for k, v in (part.split("=", 1) for part in filter(None, args.epochs.split(",")))}
    families = [f for f in args.families.split(",") if f]
    unknown = sorted(set(families) - set(FAMILIES)) + sorted(set(given) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown families {unknown}; the trilemma rows come from {', '.join(FAMILIES)}")
    work = Path(args.work_dir)
    classifier = args.classifier or ensure_model("classifier", args.dataset, work, epochs.get("classifier"), args.quick, log)
    models = {f: given.get(f) or ensure_model(f, args.dataset, work, epochs.get(f), args.quick, log) for f in families}
    rows = run(models, classifier, args.dataset, args.num_samples, args.batch_size, args.seed,
               grids_dir=Path(args.output_dir) / "trilemma", inception_weights=args.inception_weights, log=log)  # fmt: skip
    accuracy = json.loads(Path(classifier, "metrics.json").read_text())["metrics"]["accuracy"] \
        if Path(classifier, "metrics.json").exists() else None  # fmt: skip
    head = (f"`{args.dataset}`, {args.num_samples} samples per row against {min(args.num_samples, len(load_images(args.dataset, 'train')))}"
            f" training images, features of the dataset's classifier"
            + (f" (test accuracy {accuracy:.3f})" if accuracy is not None else "") + f"; sampling at batch {args.batch_size}"
            f" on {_device()}. FD_local/KID_local: lower is better; the rest: higher.")  # fmt: skip
    return rows, head + "\n\n" + table(rows) + "\n\n" + verdict(rows)


def _device() -> str:
    import platform

    return torch.cuda.get_device_name() if torch.cuda.is_available() else f"{platform.machine()} CPU ({torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''})"
