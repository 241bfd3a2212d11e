"""Objective of the GAN family: the non-saturating game of Goodfellow et al. (2014) with DCGAN's recipe.

Losses per batch (real images x scaled to [-1, 1], z ~ N(0, I), D(.) = sigmoid(logit(.))):
    discriminator: -log D(x) - log(1 - D(G(z)))   (Goodfellow et al. 2014, eq. 1, which D ascends)
    generator:     -log D(G(z))                   (the non-saturating loss of their Sec. 3: strong gradients
                                                   early, when D rejects every sample)
The loop steps D's optimizer on its loss before asking for G's, so G is scored by the updated D
(their Algorithm 1 with k = 1). Both models use Adam with lr 2e-4 and beta1 0.5 (Radford et al. 2016, Sec. 4).
Metrics on the held-out split: both losses, mean D(x) on real images and D(G(z)) on fixed-seed fakes, and the
mean absolute gap between the per-pixel mean (and std) images of as many samples and the real images.
"""

import torch
import torch.nn.functional as F
from accelerate import Accelerator

from hf_genzoo.models.gan import Discriminator, Generator
from hf_genzoo.pipelines.gan import GANPipeline

from ..data import TensorData, to_unit_range
from ..errors import UserInputError
from .config import TrainConfig
from .objective import Objective, build_model, check_options, model_options

EVAL_SEED = 1234  # the same fake images at every evaluation (plus the process index under multi-process)
PICTURE_SEED = 0  # the same noise in every sample grid, so grids are comparable over training
PICTURE_ROWS = 4  # rows of samples under the row of held-out images
PREFIXES = ("generator_", "discriminator_")


def build_pair(cfg: TrainConfig, resolution: int, generator: tuple[type, dict], discriminator: tuple[type, dict]):
    """A generator and a discriminator (each a class and the arguments that come from the data) for `resolution`,
    with `--model_config` overrides checked. A key goes to every model that takes it (`block_out_channels=(64, 128)`
    shapes both); `generator_KEY` / `discriminator_KEY` to one only."""
    kwargs = cfg.model_kwargs()
    fixed = dict([generator, discriminator])  # class -> its data-given arguments
    allowed = {cls: model_options(cls, [*fixed[cls], "sample_size"]) for cls in fixed}
    shared = {k: v for k, v in kwargs.items() if not k.startswith(PREFIXES)}
    check_options(shared, {cls.__name__: allowed[cls] for cls in fixed})
    prefixed = {k: v for k, v in kwargs.items() if k.startswith(PREFIXES)}  # one model's only
    check_options(
        prefixed, {cls.__name__: [p + a for a in allowed[cls]] for p, cls in zip(PREFIXES, fixed, strict=True)}
    )
    models = []
    for prefix, cls in zip(PREFIXES, fixed, strict=True):
        own = {k[len(prefix) :]: v for k, v in kwargs.items() if k.startswith(prefix)}
        options = {**{k: v for k, v in shared.items() if k in allowed[cls]}, **own}
        models.append(build_model(cls, cfg, options, sample_size=resolution, **fixed[cls]))
    return models[0], models[1]


def build_models(cfg: TrainConfig, channels: int, resolution: int) -> tuple[Generator, Discriminator]:
    """The DCGAN pair for the data's shape (see `build_pair`)."""
    return build_pair(
        cfg, resolution, (Generator, {"out_channels": channels}), (Discriminator, {"in_channels": channels})
    )


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), batch means; softplus(-l) = -log sigmoid(l) without overflow."""
    return F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -log D(G(z)), batch mean."""
    return F.softplus(-fake_logits.float()).mean()


class GANObjective(Objective):
    """DCGAN `Generator` and `Discriminator` trained alternately, one step each per batch (see the module docstring)."""

    recipe = {
        "learning_rate": 2e-4,  # DCGAN Sec. 4: 1e-3 was too high
        "adam_beta1": 0.5,  # DCGAN Sec. 4: 0.9 oscillated and was unstable
    }

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if cfg.noise:
            raise UserInputError(f"--noise is for denoising autoencoders; a GAN takes no corruption, got {cfg.noise!r}")
        generator, discriminator = build_models(cfg, data.channels, data.resolution)
        self.latent_dim = generator.config.latent_dim
        self.spectral_norm = discriminator.config.spectral_norm
        self.models = {"discriminator": discriminator, "generator": generator}

    def _real(self, batch: dict) -> torch.Tensor:
        return to_unit_range(batch["pixel_values"]) * 2 - 1  # (B, C, H, W) in [-1, 1]

    def losses(self, batch, step):
        D, G = self.models["discriminator"], self.models["generator"]
        real = self._real(batch)  # (B, C, H, W)
        z = torch.randn(len(real), self.latent_dim, device=real.device, dtype=torch.float32)  # (B, latent_dim)
        fake = G(z).sample  # (B, C, H, W) in [-1, 1]
        # 1. discriminator: eq. 1 on a real and a fake batch; fake is detached so G gets no gradient here
        D.requires_grad_(True)
        yield "discriminator", discriminator_loss(D(real).logits, D(fake.detach()).logits)
        # 2. generator: the same fakes scored by the updated D; D's weights are frozen so that this backward
        #    leaves no gradient in D to leak into its next step (the loop zeroes D's gradients only after D's step)
        D.requires_grad_(False)
        try:
            yield "generator", generator_loss(D(fake).logits)
        finally:
            D.requires_grad_(True)

    @torch.no_grad()
    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        D, G = self.models["discriminator"], self.models["generator"]
        g = torch.Generator(device=accelerator.device).manual_seed(EVAL_SEED + accelerator.process_index)
        sums = dict.fromkeys(("d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake"), 0.0)
        pixel_sums, n = {}, 0
        for batch in loader:
            real = self._real(batch)  # (B, C, H, W)
            z = torch.randn(len(real), self.latent_dim, generator=g, device=real.device, dtype=torch.float32)
            fake = G(z).sample.float()  # (B, C, H, W)
            real_logits, fake_logits, real, fake = accelerator.gather_for_metrics(
                (D(real).logits.float(), D(fake).logits.float(), real, fake)
            )
            sums["d_loss_real"] += F.softplus(-real_logits).sum().item()
            sums["d_loss_fake"] += F.softplus(fake_logits).sum().item()
            sums["g_loss"] += F.softplus(-fake_logits).sum().item()
            sums["d_real"] += torch.sigmoid(real_logits).sum().item()
            sums["d_fake"] += torch.sigmoid(fake_logits).sum().item()
            for name, x in (("real", real), ("fake", fake)):
                x = (x.double() + 1) / 2  # (B, C, H, W) in [0, 1]
                pixel_sums[name] = pixel_sums.get(name, 0) + x.sum(0)
                pixel_sums[name + "_sq"] = pixel_sums.get(name + "_sq", 0) + (x * x).sum(0)
            n += len(real)
        mean = {k: pixel_sums[k] / n for k in ("real", "fake")}  # (C, H, W) mean images
        std = {k: (pixel_sums[k + "_sq"] / n - mean[k] ** 2).clamp_min(0).sqrt() for k in ("real", "fake")}
        return {
            "d_loss": (sums["d_loss_real"] + sums["d_loss_fake"]) / n,
            "g_loss": sums["g_loss"] / n,
            "d_real": sums["d_real"] / n,
            "d_fake": sums["d_fake"] / n,
            "mean_image_gap": (mean["fake"] - mean["real"]).abs().mean().item(),
            "std_image_gap": (std["fake"] - std["real"]).abs().mean().item(),
        }

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        real = (self._real(batch) + 1) / 2  # (N, C, H, W) in [0, 1]
        g = torch.Generator(device=real.device).manual_seed(PICTURE_SEED)
        z = torch.randn(PICTURE_ROWS * len(real), self.latent_dim, generator=g, device=real.device, dtype=torch.float32)
        fake = (self.models["generator"](z).sample.float() + 1) / 2  # (R * N, C, H, W)
        return torch.cat([real[None], fake.view(PICTURE_ROWS, *real.shape)])  # (1 + R, N, C, H, W)

    def pipeline(self, accelerator: Accelerator) -> GANPipeline:
        return GANPipeline(
            generator=accelerator.unwrap_model(self.models["generator"]),
            discriminator=accelerator.unwrap_model(self.models["discriminator"]),
        )

    def card_info(self):
        sn = ["spectral-normalization"] if self.spectral_norm else []
        return {
            "tags": ["gan", "dcgan", *sn],
            "description": "DCGAN" + (" with a spectrally normalized discriminator" if sn else ""),
            "main_metric": "mean_image_gap",
        }
