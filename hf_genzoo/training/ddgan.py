"""Objective of the Denoising Diffusion GAN (Xiao, Kreis & Vahdat, ICLR 2022, arXiv:2112.07804).

The forward process has only T steps (`--num_timesteps`, the paper's 2, 4 or 8), with the paper's discrete
schedule: the variance-preserving SDE's alpha_bar(s) = exp(-beta_min s - (beta_max - beta_min) s^2 / 2) read at
s_k = eps + (1 - eps) k / T, k = 0..T, and beta_k = 1 - alpha_bar(s_k) / alpha_bar(s_{k-1}) (their
`get_sigma_schedule`, beta_min 0.1, beta_max 20, eps 1e-3). It lives in a stock `DDPMScheduler` (`trained_betas`,
`prediction_type="sample"`), which the pipeline steps with. Indices below are diffusers' (t = 0..T-1 is the
paper's step t + 1: t = 0 turns x_1 into x_0).

One training step, on real images x0 in [-1, 1] (their Algorithm 1, with the fakes of one generator call scored by
D before and after its update, as the GAN family does):

    t ~ U{0..T-1}, x_{t-1} ~ q(x_{t-1} | x0) (x0 itself at t = 0), x_t ~ q(x_t | x_{t-1})        (the real pair)
    z ~ N(0, I), x0' = G(x_t, z, t), x'_{t-1} ~ q(x_{t-1} | x_t, x0')                            (the fake pair)
    discriminator: softplus(-D(x_{t-1}, x_t, t)) + softplus(D(x'_{t-1}, x_t, t))               (non-saturating, eq. 4)
                   + r1_gamma / 2 * ||d D(x_{t-1}, x_t, t) / d x_{t-1}||^2 every `--lazy_reg` steps (R1, Mescheder
                   et al. 2018, on real data)
    generator:     softplus(-D(x'_{t-1}, x_t, t))                                                (eq. 5)

Recipe of their CIFAR-10 run: Adam betas (0.5, 0.9), generator lr 1.6e-4, discriminator 1.25e-4, R1 weight 0.02
every 15 steps, an EMA of the generator (its weights are evaluated, drawn and saved).

Evaluation on the held-out split, EMA generator, fixed-seed t, noise and z: both losses and the mean D(x) of real
and fake pairs (`d_real`, `d_fake`); `x0_mse`, how far the generator's x0' is from the true x0 (it is a sample of
the posterior, not a regression, so it does not go to 0: it shows the denoising being learnt); and, for
`SAMPLE_STATS` full T-step samples, the gap between their per-pixel mean and std images and the real ones.
"""

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from diffusers import DDPMScheduler

from hf_genzoo.models.ddgan import DDGANDiscriminator, DDGANGenerator
from hf_genzoo.pipelines.ddgan import DDGANPipeline

from ..data import TensorData, to_unit_range
from ..errors import UserInputError
from .config import TrainConfig
from .gan import build_pair
from .objective import EMAObjective

BETA_MIN, BETA_MAX, EPS_SMALL = 0.1, 20.0, 1e-3  # the paper's schedule (their --beta_min, --beta_max, eps_small)
EVAL_SEED = 1234  # the same t, noise and z at every evaluation (plus the process index under multi-process)
PICTURE_SEED = 0  # the same starting noise in every picture, so pictures compare over training
PICTURE_ROWS = 4  # rows of samples under the row of held-out images
SAMPLE_STATS = 1000  # full-chain samples behind mean_image_gap and std_image_gap


def ddgan_betas(num_timesteps: int, beta_min: float = BETA_MIN, beta_max: float = BETA_MAX) -> torch.Tensor:
    """The paper's T betas `(T,)` (float64); see the module docstring."""
    if num_timesteps < 1:
        raise UserInputError(f"--num_timesteps must be 1 or more, got {num_timesteps}")
    s = EPS_SMALL + (1 - EPS_SMALL) * torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    log_alpha_bar = -beta_min * s - 0.5 * (beta_max - beta_min) * s**2  # (T + 1,)
    return 1 - torch.exp(log_alpha_bar[1:] - log_alpha_bar[:-1])


def ddgan_scheduler(num_timesteps: int) -> DDPMScheduler:
    """A stock `DDPMScheduler` for the T-step process: the paper's betas, the model output taken as x0, no clipping
    (the generator ends in tanh), the posterior variance ("fixed_small") as the step's noise."""
    return DDPMScheduler(
        num_train_timesteps=num_timesteps,
        trained_betas=ddgan_betas(num_timesteps).tolist(),
        prediction_type="sample",
        clip_sample=False,
        variance_type="fixed_small",
    )


def _per_sample(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`values[t]` shaped `(B, 1, 1, 1)` to scale images `like`."""
    return values.to(like.device)[t].to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


def q_pair(scheduler: DDPMScheduler, x0: torch.Tensor, t: torch.Tensor, generator=None):
    """A real denoising pair of the forward process for each image: x_{t-1} ~ q(x_{t-1} | x0) (x0 itself at t = 0)
    and x_t ~ q(x_t | x_{t-1}); `t` `(B,)` in 0..T-1."""
    alphas_cumprod = scheduler.alphas_cumprod.double()
    prev = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])  # alpha_bar_{t-1}, 1 before the first step
    e1 = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    e2 = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    a = _per_sample(prev, t, x0)
    x_prev = a.sqrt() * x0 + (1 - a).sqrt() * e1
    beta = _per_sample(scheduler.betas.double(), t, x0)
    return x_prev, (1 - beta).sqrt() * x_prev + beta.sqrt() * e2


def posterior(scheduler: DDPMScheduler, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor):
    """Mean and variance of q(x_{t-1} | x_t, x0) (Ho et al. 2020, eq. 7), per image `t` `(B,)`:
    mean = beta_t sqrt(abar_{t-1}) / (1 - abar_t) x0 + (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t) x_t,
    var = beta_t (1 - abar_{t-1}) / (1 - abar_t)."""
    abar = scheduler.alphas_cumprod.double()
    abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
    beta = scheduler.betas.double()
    coef_x0 = beta * abar_prev.sqrt() / (1 - abar)
    coef_xt = (1 - abar_prev) * (1 - beta).sqrt() / (1 - abar)
    var = beta * (1 - abar_prev) / (1 - abar)
    mean = _per_sample(coef_x0, t, x0) * x0 + _per_sample(coef_xt, t, x0) * x_t
    return mean, _per_sample(var, t, x0)


def sample_posterior(scheduler: DDPMScheduler, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, generator=None):
    """x_{t-1} ~ q(x_{t-1} | x_t, x0), each image at its own t (`DDPMScheduler.step` takes one t for the batch); no
    noise at t = 0, where the variance is 0."""
    mean, var = posterior(scheduler, x0, x_t, t)
    noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    return mean + var.sqrt() * noise


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E ||d D / d real||^2 over the batch, differentiable (the graph is kept for the discriminator's backward)."""
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


class DDGANObjective(EMAObjective):
    """A `DDGANGenerator` and `DDGANDiscriminator` trained alternately, one step each per batch; see the module
    docstring."""

    ema_model = "generator"
    recipe = {
        "learning_rate": 1.6e-4,  # the paper's CIFAR-10 --lr_g
        "discriminator_learning_rate": 1.25e-4,  # --lr_d
        "adam_beta1": 0.5,  # --beta1
        "adam_beta2": 0.9,  # --beta2
        "epochs": 20,
        "random_flip": False,  # digits and clothes are not mirror-symmetric
    }

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if cfg.noise:
            raise UserInputError(
                f"a DDGAN makes its own noise; --noise is for denoising autoencoders (got {cfg.noise!r})"
            )
        generator, discriminator = build_pair(
            cfg,
            data.resolution,
            (DDGANGenerator, {"in_channels": data.channels}),
            (DDGANDiscriminator, {"in_channels": data.channels}),
        )
        self.scheduler = ddgan_scheduler(cfg.num_timesteps)
        self.image_shape = (data.channels, data.resolution, data.resolution)
        self.latent_dim = generator.config.latent_dim
        self.init_ema(generator, DDGANGenerator)
        self.models = {"discriminator": discriminator, "generator": generator}

    def _real(self, batch: dict) -> torch.Tensor:
        return to_unit_range(batch["pixel_values"]) * 2 - 1  # (B, C, H, W) in [-1, 1]

    def _fake_pair(self, x0: torch.Tensor, t: torch.Tensor, generator=None):
        """The real pair, and the generator's x0' and x'_{t-1} for the same x_t."""
        x_prev, x_t = q_pair(self.scheduler, x0, t, generator)
        z = torch.randn(len(x0), self.latent_dim, generator=generator, device=x0.device, dtype=torch.float32)
        x0_fake = self.models["generator"](x_t, t, z).sample
        return x_prev, x_t, x0_fake, sample_posterior(self.scheduler, x0_fake, x_t, t, generator)

    def losses(self, batch, step):
        D = self.models["discriminator"]
        x0 = self._real(batch)  # (B, C, H, W)
        t = torch.randint(0, self.cfg.num_timesteps, (len(x0),), device=x0.device)  # (B,)
        x_prev, x_t, _, fake = self._fake_pair(x0, t)
        # 1. discriminator: real and fake pairs; the fake is detached so that G gets no gradient here
        D.requires_grad_(True)
        regularize = self.cfg.r1_gamma > 0 and step % self.cfg.lazy_reg == 0
        x_prev.requires_grad_(regularize)
        real_logits = D(x_prev, x_t, t).logits
        loss = F.softplus(-real_logits.float()).mean() + F.softplus(D(fake.detach(), x_t, t).logits.float()).mean()
        if regularize:
            loss = loss + self.cfg.r1_gamma / 2 * r1_penalty(real_logits, x_prev)
        yield "discriminator", loss
        # 2. generator: the same fakes scored by the updated D, whose weights are frozen for this backward
        D.requires_grad_(False)
        try:
            yield "generator", F.softplus(-D(fake, x_t, t).logits.float()).mean()
        finally:
            D.requires_grad_(True)

    @torch.no_grad()
    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        return self._with_ema_weights(lambda: self._evaluate(loader, accelerator))

    def _evaluate(self, loader, accelerator):
        D = self.models["discriminator"]
        g = torch.Generator(device=accelerator.device).manual_seed(EVAL_SEED + accelerator.process_index)
        sums = dict.fromkeys(("d_loss", "g_loss", "d_real", "d_fake", "x0_mse"), 0.0)
        pixel_sums, n, n_samples = {}, 0, 0
        for batch in loader:
            x0 = self._real(batch)
            t = torch.randint(0, self.cfg.num_timesteps, (len(x0),), generator=g, device=x0.device)
            x_prev, x_t, x0_fake, fake = self._fake_pair(x0, t, g)
            real_logits, fake_logits = D(x_prev, x_t, t).logits.float(), D(fake, x_t, t).logits.float()
            x0_mse = (x0_fake.float() - x0).pow(2).mean(dim=(1, 2, 3))  # (B,)
            real_logits, fake_logits, x0_mse = accelerator.gather_for_metrics((real_logits, fake_logits, x0_mse))
            sums["d_loss"] += (F.softplus(-real_logits) + F.softplus(fake_logits)).sum().item()
            sums["g_loss"] += F.softplus(-fake_logits).sum().item()
            sums["d_real"] += torch.sigmoid(real_logits).sum().item()
            sums["d_fake"] += torch.sigmoid(fake_logits).sum().item()
            sums["x0_mse"] += x0_mse.sum().item()
            n += len(real_logits)
            if n_samples < SAMPLE_STATS:  # full T-step samples beside as many real images
                samples = self._chain(len(x0), x0.device, g)
                real, samples = accelerator.gather_for_metrics((x0, samples))
                for name, x in (("real", real), ("fake", samples)):
                    x = (x.double() + 1) / 2  # (B, C, H, W) in [0, 1]
                    pixel_sums[name] = pixel_sums.get(name, 0) + x.sum(0)
                    pixel_sums[name + "_sq"] = pixel_sums.get(name + "_sq", 0) + (x * x).sum(0)
                n_samples += len(real)
        mean = {k: pixel_sums[k] / n_samples for k in ("real", "fake")}
        std = {k: (pixel_sums[k + "_sq"] / n_samples - mean[k] ** 2).clamp_min(0).sqrt() for k in ("real", "fake")}
        return {
            **{k: v / n for k, v in sums.items()},
            "mean_image_gap": (mean["fake"] - mean["real"]).abs().mean().item(),
            "std_image_gap": (std["fake"] - std["real"]).abs().mean().item(),
        }

    def _chain(self, n: int, device, generator) -> torch.Tensor:
        """`n` samples `(n, C, H, W)` in [-1, 1] of the training generator through the T steps (the pipeline's loop,
        each image at the same t, on the training models so that the loop's autocast and wrappers apply)."""
        G = self.models["generator"]
        c = self.scheduler.config
        x = torch.randn(n, *self.image_shape, generator=generator, device=device)
        for step in reversed(range(c.num_train_timesteps)):
            t = torch.full((n,), step, device=device, dtype=torch.long)
            z = torch.randn(n, self.latent_dim, generator=generator, device=device)
            x = sample_posterior(self.scheduler, G(x, t, z).sample.float(), x, t, generator)
        return x

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        real = to_unit_range(batch["pixel_values"])  # (N, C, H, W) in [0, 1]
        g = torch.Generator(device=real.device).manual_seed(PICTURE_SEED)
        fake = self._with_ema_weights(lambda: self._chain(PICTURE_ROWS * len(real), real.device, g))
        fake = (fake.float() + 1) / 2  # (R * N, C, H, W)
        return torch.cat([real[None], fake.view(PICTURE_ROWS, *real.shape)])  # (1 + R, N, C, H, W)

    def pipeline(self, accelerator: Accelerator) -> DDGANPipeline:
        """The EMA generator (a fresh copy), the T-step scheduler and the discriminator."""
        return DDGANPipeline(
            generator=self.ema_copy(accelerator.unwrap_model(self.models["generator"])),
            scheduler=self.scheduler,
            discriminator=accelerator.unwrap_model(self.models["discriminator"]),
        )

    def card_info(self):
        return {
            "tags": ["ddgan", "denoising-diffusion-gan", "diffusion", "gan"],
            "description": f"Denoising Diffusion GAN with T = {self.cfg.num_timesteps} steps",
            "main_metric": "mean_image_gap",
            "hyperparameters": (
                "num_timesteps",
                "r1_gamma",
                "lazy_reg",
                "discriminator_learning_rate",
                "ema_max_decay",
            ),
        }
