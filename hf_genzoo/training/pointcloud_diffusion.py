"""Objective of 3-D point-cloud diffusion: DDPM over point sets (Luo & Hu 2021, arXiv:2103.01458) on diffusers' parts.

Only the network (`PointCloudDenoiser`, permutation-equivariant) and the data (the `point_sets` kind: sets of
`num_points` points centred and scaled into the unit ball, the one normalization of training, metrics and samples)
are new; the noise schedule, the EMA, the samplers and the loss are the image DDPM's (`DiffusionObjective`):

    x0 = a point set (B, N, 3),  t ~ U{0..T-1},  x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise
    loss = || eps(x_t, t, y) - noise ||^2                      (Ho et al. 2020, eq. 14)

where y is the set's class with probability 1 - `--class_dropout` and "no class" otherwise, so that one model
samples with a class, without one, and with classifier-free guidance (Ho & Salimans 2022). A dataset without
labels trains an unconditional model. The saved pipeline samples with DPM-Solver++(2M), 50 steps; every sampler of
`hf_genzoo.samplers` can be swapped in.

With `--model_config shape_latent_dim=D` the network is the decoder of a point-set autoencoder (Luo & Hu 2021's
shape latent, in LION's two stages): its PointNet encoder reads the clean set, the loss is the same (each set
denoised towards its own noisy latent), and once the decoder is trained, `fit_prior` encodes every training set and
fits a DDPM over the latents (`ShapeLatentPrior`, `--prior_steps`), saved with the pipeline to draw new shapes.

Evaluation on the held-out split: the diffusion loss over fixed-seed (t, noise) pairs, overall and per range of t
(as the image DDPM). The generation metrics of the papers (MMD, COV, 1-NNA with CD and EMD) need hundreds of
samples: `genzoo evaluate --model DIR` and `benchmarks/pointcloud_diffusion.py` compute them.
"""

from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import extract_model_from_parallel
from diffusers import DDPMScheduler
from diffusers.optimization import get_cosine_schedule_with_warmup
from torch.nn import functional as F
from tqdm.auto import tqdm

from hf_genzoo.models.pointcloud_diffusion import PointCloudDenoiser, ShapeLatentPrior
from hf_genzoo.pipelines.pointcloud_diffusion import (
    DEFAULT_NUM_POINTS,
    DEFAULT_STEPS,
    X0_CLIP,
    PointCloudDiffusionPipeline,
)
from hf_genzoo.samplers import DEFAULT_STEPS as SAMPLER_STEPS
from hf_genzoo.samplers import make_scheduler, use_sampler

from ..data import TensorData
from ..data.point_files import write_ply
from ..data.points import unit_ball
from ..data.tensorize import cache_root
from ..errors import UserInputError
from ..metrics.points import ReferenceSets, point_cloud_metrics
from ..viz import point_cloud_figure, point_cloud_images
from .config import TrainConfig, resolve_mixed_precision
from .diffusion import DiffusionObjective, noise_scheduler_for
from .objective import build_model

DEFAULT_LOCAL = "none"  # the recipe's neighbourhood branch (docs/families/pointcloud_diffusion.md)
# The recipe's shape latent: 62.5% 1-NNA-CD under `genzoo evaluate` against 77.5% for the plain blocks at the same
# 17,000 steps (docs/families/pointcloud_diffusion.md); --model_config shape_latent_dim=None trains the plain model
DEFAULT_SHAPE_LATENT = 64
PICTURE_SEED, PICTURE_SETS = 0, 8  # the same starting noise in every picture, so pictures compare over training
PICTURE_SAMPLER, PICTURE_STEPS = "dpmsolver++", 20
EMD_POINTS = 256  # exact EMD on 256-point subsamples: ~1 s a pair at 2,048 points, a few ms at 256
EMD_JOBS = -1  # the EMD matrices' rows spread over every core (joblib processes): the same numbers, sooner
EVALUATE_SETS = 100  # `genzoo evaluate` scores this many held-out sets (as many as the benchmark)
# `genzoo evaluate` and `genzoo sample` draw with the denoiser under bf16 autocast where it is native (the precision of
# training's --mixed_precision auto): on this CPU (AMX) that halves the sampling, the larger part of evaluate's time
# (docs/families/pointcloud_diffusion.md; benchmarks/pointcloud_diffusion.py --mixed_precision auto no compares)
SAMPLE_PRECISION = "auto"
FIGURE_SETS = 8
# The latents' prior (`fit_prior`): Adam at 1e-3 with a cosine decay, batches of 128 latents (of 1,600 for shapes3d),
# DDPM's linear noise schedule over 1,000 steps, all 1,000 of them to sample (an MLP over 64 numbers: about a second
# for 100 latents). Latents are not images, so nothing clips DDPM's x0 estimate; with the cosine schedule
# (squaredcos_cap_v2) the first step's beta is capped at 0.999, which multiplies the prediction's error by
# 1 / sqrt(1 - 0.999) = 32, and its latents came out far longer than the training ones (73.5% 1-NNA-CD against 62.5%).
PRIOR_BATCH, PRIOR_LR, PRIOR_WARMUP = 128, 1e-3, 100
PRIOR_SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "linear", "clip_sample": False}
# The data-prediction samplers clip their x0 estimates to the unit cube (see X0_CLIP); DDPM and DDIM clip them already
# (clip_sample, from the training scheduler's config).
SAMPLER_OPTIONS = {
    "dpmsolver++": X0_CLIP,
    "sde-dpmsolver++": X0_CLIP,
}  # sets drawn in 3-D (three views each) by `genzoo sample`


class PointCloudDiffusionObjective(DiffusionObjective):
    """Trains a `PointCloudDenoiser` as a DDPM over point sets with an EMA of its weights; see the module docstring."""

    ema_model = "denoiser"
    recipe = {
        "dataset": "shapes3d",  # the embedded primitives and composites, 2,048 points each, labelled
        "num_points": 512,  # training sets; it samples any N (2,048 in the benchmark): the network is per point
        "batch_size": 32,
        "learning_rate": 1e-3,  # PointNet-style MLPs train at Adam's default (Luo & Hu use 2e-3)
        "lr_scheduler": "cosine",  # to 0 by the last step (plain blocks: 79.0% 1-NNA-CD, 80.5% at 20,000 constant)
        "lr_warmup_steps": 200,
        "max_steps": 17_000,  # docs/families/pointcloud_diffusion.md: 88 minutes on one core, the prior's fit included
        "max_grad_norm": 1.0,  # as the image DDPM (Ho et al.)
        "ema_max_decay": 0.999,  # an average over the last ~1,000 steps
        "epochs": 100,
        "mixed_precision": "auto",  # bf16 where native: the network is matrix products
    }

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if cfg.noise:
            raise UserInputError(
                f"a diffusion model makes its own noise; --noise is for denoising models ({cfg.noise})"
            )
        if not 0 <= cfg.class_dropout < 1:
            raise UserInputError(f"--class_dropout must be in [0, 1), got {cfg.class_dropout}")
        labelled = data.labels is not None
        names = data.label_names if labelled else None
        num_classes = (len(names) if names else int(data.labels.max()) + 1) if labelled else None
        fixed = {"num_classes": num_classes, "label_names": list(names) if names else None}
        options = {"local": DEFAULT_LOCAL, "shape_latent_dim": DEFAULT_SHAPE_LATENT, **cfg.model_kwargs()}
        self.denoiser = build_model(PointCloudDenoiser, cfg, options, **fixed)
        self.noise_scheduler = noise_scheduler_for(cfg)
        self.init_ema(self.denoiser, PointCloudDenoiser)
        self.models = {"denoiser": self.denoiser}
        self.train_points, self.train_labels = data.arrays["points"], data.arrays.get("labels")  # for fit_prior

    @classmethod
    def data_options(cls, cfg: TrainConfig) -> dict:
        return {"num_points": cfg.num_points, "points_column": cfg.points_column, "label_column": cfg.label_column}

    def augment(self, batch: dict) -> dict:
        return batch  # the shapes come in every orientation already; a flip is no image flip here

    def clean_and_condition(self, batch, sample):
        x0 = batch["points"].float()  # (B, N, 3) in the unit ball
        condition = {} if self.denoiser.config.shape_latent_dim is None else {"shape_points": x0}  # an autoencoder
        if self.denoiser.config.num_classes is None:
            return x0, condition
        labels = batch["labels"].long()  # (B,)
        if sample and self.cfg.class_dropout > 0:
            drop = torch.rand(len(labels), device=labels.device) < self.cfg.class_dropout
            labels = torch.where(drop, torch.full_like(labels, self.denoiser.null_class), labels)
        return x0, {**condition, "class_labels": labels}

    def losses(self, batch, step):
        yield "denoiser", self.diffusion_loss(batch)

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        """Held-out sets over EMA samples of their classes, drawn from fixed noise (each set seen from one angle); for
        a model with a shape latent (whose prior is fitted at the end), over their reconstructions."""
        real = batch["points"][:PICTURE_SETS].float().cpu()  # (n, N, 3)
        labels = batch["labels"][: len(real)].cpu() if self.denoiser.config.num_classes is not None else None
        fake = self._with_ema_weights(lambda: self._samples(real, labels))
        return torch.stack([point_cloud_images(real), point_cloud_images(fake)])  # (2, n, 3, H, W)

    def _samples(self, real: torch.Tensor, labels) -> torch.Tensor:
        denoiser = extract_model_from_parallel(self.models["denoiser"])
        scheduler = make_scheduler(PICTURE_SAMPLER, self.noise_scheduler.config, **SAMPLER_OPTIONS[PICTURE_SAMPLER])
        pipe = PointCloudDiffusionPipeline(denoiser=denoiser, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        g = torch.Generator().manual_seed(PICTURE_SEED)
        z = pipe.encode(real) if denoiser.config.shape_latent_dim is not None else None
        n, num_points = real.shape[:2]
        out = pipe(
            num_points, n, labels, generator=g, num_inference_steps=PICTURE_STEPS, output_type="pt", shape_latents=z
        )
        return out.points.float().cpu()

    def pipeline(self, accelerator: Accelerator) -> PointCloudDiffusionPipeline:
        """The EMA weights with DPM-Solver++(2M) on the training noise schedule."""
        denoiser = self.ema_copy(accelerator.unwrap_model(self.models["denoiser"]))
        if denoiser.config.shape_latent_dim is None:
            return PointCloudDiffusionPipeline.from_training(denoiser, self.noise_scheduler)
        c = self.cfg
        prior, prior_scheduler = fit_prior(
            denoiser.to(accelerator.device),
            self.train_points,
            self.train_labels,
            c.prior_steps,
            c.class_dropout,
            c.seed,
        )
        return PointCloudDiffusionPipeline.from_training(denoiser, self.noise_scheduler, prior, prior_scheduler)

    def card_info(self):
        c = self.denoiser.config
        classes = f", conditional on {c.num_classes} classes" if c.num_classes else ", unconditional"
        local = {
            "none": "",
            "voxel": f", point-voxel convolutions on a {c.voxel_resolution}^3 grid",
            "knn": f", EdgeConv over {c.knn} nearest neighbours",
        }[c.local]
        latent = "" if c.shape_latent_dim is None else f", a {c.shape_latent_dim}-d shape latent with a DDPM prior"
        local += latent
        return {
            "tags": ["point-cloud", "3d", "diffusion", self.name],
            "description": f"PointCloudDenoiser (width {c.hidden_dim}, {c.num_blocks} blocks{local}{classes}), DDPM",
            "main_metric": "loss",
            "hyperparameters": ("num_points", "ddpm_num_steps", "ddpm_beta_schedule", "ema_max_decay", "class_dropout")
            + (() if c.shape_latent_dim is None else ("prior_steps",)),
        }


def fit_prior(
    denoiser: PointCloudDenoiser, points, labels, steps: int, class_dropout: float = 0.1, seed: int = 0, progress=True
) -> tuple[ShapeLatentPrior, DDPMScheduler]:
    """The second stage of a shape-latent model: the latents of every training set `points` `(M, N, 3)` (by the
    trained `denoiser`'s encoder, without noise) and a `ShapeLatentPrior` fitted to them as a DDPM for `steps`
    steps (eps-prediction, `PRIOR_SCHEDULE`; with `labels` `(M,)`, class-conditional with `class_dropout` of them
    dropped, as the decoder). Returns the prior (in eval mode) and its scheduler."""
    device = denoiser.device
    denoiser.eval()
    with torch.no_grad():
        sets = torch.from_numpy(np.array(points, dtype=np.float32))  # a copy: the memory map is read-only
        z = torch.cat([denoiser.encode(sets[i : i + 256].to(device)).float() for i in range(0, len(sets), 256)])
    y = None if labels is None or denoiser.config.num_classes is None else torch.from_numpy(np.array(labels)).long()
    y = None if y is None else y.to(device)
    prior = ShapeLatentPrior(latent_dim=z.shape[1], num_classes=denoiser.config.num_classes).to(device)
    scheduler = DDPMScheduler(**PRIOR_SCHEDULE)
    optimizer = torch.optim.AdamW(prior.parameters(), lr=PRIOR_LR, weight_decay=0.0)
    lr = get_cosine_schedule_with_warmup(optimizer, min(PRIOR_WARMUP, steps // 10), steps)
    g = torch.Generator(device=device).manual_seed(seed)
    bar = tqdm(range(steps), desc="fitting the shape-latent prior", disable=not progress)
    for _ in bar:
        index = torch.randint(len(z), (min(PRIOR_BATCH, len(z)),), generator=g, device=device)
        z0, noise = z[index], torch.randn(len(index), z.shape[1], generator=g, device=device)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(index),), generator=g, device=device)
        classes = None
        if y is not None:
            drop = torch.rand(len(index), generator=g, device=device) < class_dropout
            classes = torch.where(drop, torch.full_like(y[index], prior.null_class), y[index])
        loss = F.mse_loss(prior(scheduler.add_noise(z0, noise, t), t, classes).sample, noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
        optimizer.step()
        lr.step()
        optimizer.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    return prior.eval(), scheduler


def sample(
    pipe: PointCloudDiffusionPipeline,
    batch_size: int,
    generator,
    scheduler: str | None = None,
    steps: int | None = None,
    num_points: int | None = None,
    class_label: str | None = None,
    guidance_scale: float | None = None,
) -> torch.Tensor:
    """Point sets `(B, N, 3)` from a saved model: its own sampler (DPM-Solver++, 50 steps) or `scheduler` swapped in,
    for `steps` steps (default: the sampler's usual number); `class_label` a class name or id; bf16 autocast where
    native (`SAMPLE_PRECISION`)."""
    if scheduler:
        use_sampler(pipe, scheduler)
    pipe.set_progress_bar_config(disable=True)
    label = int(class_label) if isinstance(class_label, str) and class_label.isdigit() else class_label
    out = pipe(
        num_points or DEFAULT_NUM_POINTS,
        batch_size,
        label,
        guidance_scale=1.0 if guidance_scale is None else guidance_scale,
        generator=generator,
        num_inference_steps=steps or (SAMPLER_STEPS[scheduler] if scheduler else DEFAULT_STEPS),
        output_type="pt",
        mixed_precision=SAMPLE_PRECISION,
    )
    return out.points


def nfe(pipe, scheduler=None, steps=None, num_points=None, class_label=None, guidance_scale=None) -> int:
    """Network evaluations of one sample: the denoiser's steps, and the prior's (every step of its schedule, a small
    MLP over the latent) for a shape-latent model; twice each with guidance."""
    steps = steps or (SAMPLER_STEPS[scheduler] if scheduler else DEFAULT_STEPS)
    guided = class_label is not None and guidance_scale not in (None, 1.0)
    prior = getattr(pipe, "prior_scheduler", None)
    steps += prior.config.num_train_timesteps if prior is not None else 0
    return steps * (2 if guided else 1)


def export(samples: torch.Tensor, output: Path) -> list[Path]:
    """`genzoo sample`'s files beside its grid `output`: each set as `<stem>_<i>.ply` and the first sets in 3-D,
    three views each, as `<stem>_views.png`."""
    points = samples.float().cpu().numpy()  # (B, N, 3)
    folder, stem = output.parent, output.stem
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_ply(cloud, folder / f"{stem}_{i:04d}.ply") for i, cloud in enumerate(points)]
    titles = [f"sample {i}" for i in range(min(len(points), FIGURE_SETS))]
    return [point_cloud_figure(points[:FIGURE_SETS], folder / f"{stem}_views.png", titles=titles), *paths]


@torch.no_grad()
def evaluate_pipeline(pipe: PointCloudDiffusionPipeline, loader, accelerator: Accelerator, noise) -> dict:
    """`genzoo evaluate`: `EVALUATE_SETS` held-out sets (the first of each class alike, for labelled data) and as
    many samples (of the same classes, for a conditional model; bf16 autocast where native, `SAMPLE_PRECISION`),
    normalized as the data are (`unit_ball`) and scored against them with the papers' protocol
    (`hf_genzoo.metrics.point_cloud_metrics`; EMD on `EMD_POINTS`-point subsamples, its rows over `EMD_JOBS`
    processes). The held-out sets' own CD and EMD matrices are computed once and kept in the cache
    (`ReferenceSets`, under `cache_root()`): later evaluations skip them."""

    if noise:
        raise UserInputError("--noise is for denoising models; a point-cloud diffusion model is scored on its samples")
    batches = list(loader)
    reference = torch.cat([b["points"].float().cpu() for b in batches])  # (M, N, 3)
    labels = torch.cat([b["labels"].cpu() for b in batches]) if "labels" in batches[0] else None
    keep = first_of_each_class(labels, EVALUATE_SETS) if labels is not None else torch.arange(EVALUATE_SETS)
    reference, labels = reference[keep[: len(reference)]], None if labels is None else labels[keep]
    pipe.to(accelerator.device)
    pipe.set_progress_bar_config(disable=True)
    conditional = pipe.denoiser.config.num_classes is not None
    precision = resolve_mixed_precision(SAMPLE_PRECISION, pipe._execution_device)  # "bf16" or "no", as sampled
    g = torch.Generator().manual_seed(0)
    generated = []
    batch = loader.batch_size or 32
    for i in range(0, len(reference), batch):
        chosen = labels[i : i + batch] if conditional and labels is not None else None
        n = len(reference[i : i + batch])
        out = pipe(reference.shape[1], n, chosen, generator=g, output_type="pt", mixed_precision=precision)
        generated.append(out.points.float().cpu())
    generated = unit_ball(torch.cat(generated))
    references = ReferenceSets(reference, emd_points=EMD_POINTS, cache_dir=cache_root() / "point_metrics")
    metrics = point_cloud_metrics(generated, references, n_jobs=EMD_JOBS, progress=True)
    return {**metrics, "sets": len(reference), "num_points": int(reference.shape[1]), "mixed_precision": precision}


def first_of_each_class(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of up to `n` sets, the first `n // classes` of each class (at least one each), in data order."""
    classes = labels.unique()
    per_class = max(1, n // len(classes))
    keep = torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in classes])
    return keep.sort().values


def class_names(pipe: PointCloudDiffusionPipeline) -> list[str]:
    """The classes a conditional model knows, by name (ids as strings where it has no names)."""
    c = pipe.denoiser.config
    return list(c.label_names or map(str, range(c.num_classes or 0)))
