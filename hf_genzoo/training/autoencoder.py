"""Objectives of the autoencoder family: plain and denoising, MLP and convolutional.

Loss (per batch of clean images x in [0, 1], input x~ = corrupt(x) for a denoising model, else x):
    mse: || f(x~) - normalize(x) ||^2      (the classic: targets in the normalized space)
    bce: BCE(sigmoid(f(x~)), x)             (pixels as Bernoulli means; the model is built with
                                             reconstruction="logits", so a saved model knows its loss)
Metric: R^2 of the reconstruction against the clean image, in pixel space [0, 1], over the held-out split.
"""

import torch
import torch.nn.functional as F
from accelerate import Accelerator

from hf_genzoo.models.autoencoder import ConvAutoencoder, MLPAutoencoder
from hf_genzoo.pipelines import AutoencoderPipeline

from ..data import Corruption, TensorData, parse_corruption, to_unit_range
from ..errors import UserInputError
from ..metrics import R2Score
from .config import TrainConfig
from .objective import Objective, build_model

LOSSES = ("mse", "bce")
EVAL_NOISE_SEED = 1234  # the same corrupted held-out images at every evaluation


def reconstruction_loss(ae, sample: torch.Tensor, clean: torch.Tensor, per_image: bool = True) -> torch.Tensor:
    """Per-image loss `(B,)`, averaged over pixels (`per_image=False`: its mean over the batch, in one reduction:
    every image has as many pixels); the model's reconstruction space picks MSE or BCE."""
    reduction = "none" if per_image else "mean"
    if ae.config.reconstruction == "logits":
        loss = F.binary_cross_entropy_with_logits(sample.float(), clean, reduction=reduction)
    else:
        loss = F.mse_loss(sample.float(), ae.normalize(clean), reduction=reduction)
    return loss.flatten(1).mean(1) if per_image else loss


@torch.no_grad()
def evaluate_autoencoder(model, loader, accelerator: Accelerator, corruption: Corruption | None = None) -> dict:
    """R^2 of reconstructions against the clean images (pixel space), mean loss, and with `corruption` the
    R^2 of the corrupted input itself (what a denoiser must beat). The corruption is seeded: every
    evaluation sees the same noisy images."""
    ae = accelerator.unwrap_model(model)
    g = torch.Generator(device=accelerator.device).manual_seed(EVAL_NOISE_SEED)
    r2, r2_noisy, loss_sum, n = R2Score(), R2Score(), 0.0, 0
    for batch in loader:
        clean = to_unit_range(batch["pixel_values"].to(accelerator.device))  # (B, C, H, W)
        noisy = corruption(clean, g) if corruption else clean
        out = model(noisy)
        recon, clean_all, noisy_all, loss = accelerator.gather_for_metrics(
            (ae.to_pixels(out.sample.float()), clean, noisy, reconstruction_loss(ae, out.sample, clean))
        )
        r2.update(recon, clean_all)
        if corruption:
            r2_noisy.update(noisy_all, clean_all)
        loss_sum, n = loss_sum + loss.sum().item(), n + len(clean_all)
    metrics = {"r2": r2.compute(), "loss": loss_sum / n}
    if corruption:
        metrics["r2_noisy_input"] = r2_noisy.compute()
    return metrics


class _AutoencoderObjective(Objective):
    model_class: type

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if cfg.loss not in LOSSES:
            raise UserInputError(f"--loss must be one of {LOSSES}, got {cfg.loss!r}")
        self.corruption = parse_corruption(cfg.noise)
        mean, std = data.channel_stats()
        self.ae = build_model(
            self.model_class,
            cfg,
            in_channels=data.channels,
            sample_size=data.resolution,
            mean=mean,
            std=std,
            reconstruction="logits" if cfg.loss == "bce" else "normalized",
        )
        self.models = {"autoencoder": self.ae}

    def _inputs(self, batch: dict, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        clean = to_unit_range(batch["pixel_values"])  # (B, C, H, W) in [0, 1]
        return clean, (self.corruption(clean, generator) if self.corruption else clean)

    def losses(self, batch, step):
        clean, noisy = self._inputs(batch)
        out = self.models["autoencoder"](noisy)
        yield "autoencoder", reconstruction_loss(self.ae, out.sample, clean, per_image=False)

    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        return evaluate_autoencoder(self.models["autoencoder"], loader, accelerator, self.corruption)

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        clean, noisy = self._inputs(batch, torch.Generator(device=batch["pixel_values"].device).manual_seed(0))
        recon = self.ae.to_pixels(self.models["autoencoder"](noisy).sample.float())
        rows = [clean, noisy, recon] if self.corruption else [clean, recon]
        return torch.stack(rows)  # (R, N, C, H, W)

    def pipeline(self, accelerator: Accelerator) -> AutoencoderPipeline:
        return AutoencoderPipeline(autoencoder=accelerator.unwrap_model(self.models["autoencoder"]))

    def card_info(self):
        kind = "denoising autoencoder" if self.corruption else "autoencoder"
        return {
            "tags": ["autoencoder", self.name] + (["denoising"] if self.corruption else []),
            "description": f"{self.model_class.__name__} ({kind})",
            "main_metric": "r2",
        }


class MLPAutoencoderObjective(_AutoencoderObjective):
    model_class = MLPAutoencoder


class ConvAutoencoderObjective(_AutoencoderObjective):
    model_class = ConvAutoencoder


def evaluate_pipeline(pipe: AutoencoderPipeline, loader, accelerator: Accelerator, noise: str | None) -> dict:
    """`genzoo evaluate`: R^2 of a saved autoencoder's reconstructions (of `noise`-corrupted inputs, if given)."""
    return evaluate_autoencoder(
        pipe.autoencoder.to(accelerator.device).eval(), loader, accelerator, parse_corruption(noise)
    )


def reconstruct(pipe: AutoencoderPipeline, images: torch.Tensor) -> torch.Tensor:
    return pipe.reconstruct(images, output_type="pt").images
