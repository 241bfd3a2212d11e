"""Objective of the `autoencoder_kl` family: diffusers' `AutoencoderKL`, the VAE of latent diffusion.

Rombach et al. 2022 (arXiv:2112.10752, sec. 3.1 and appendix G) train a KL-regularized autoencoder and then a
diffusion model on its latents. Per batch of images x in [-1, 1] and one posterior sample z ~ q(z|x):
    loss = mean((D(z) - x)^2) + kl_weight * mean(KL(q(z|x) || N(0, I)))     (means per pixel and per latent element)
They add a perceptual loss and a patch discriminator; those need downloaded weights or a second game, so here the
reconstruction is the pixel MSE, and the KL weight is small (`kl_weight`, an objective option of `--model_config`,
default 1e-4 per latent element): the latents keep the image, and stay near N(0, I) in scale.
At the end the latents' scaling factor is measured as for Stable Diffusion: 1 / std of posterior samples of up to
2048 training images, written into the VAE's config (`scaling_factor`), so that a diffusion model on the scaled
latents sees unit variance (`genzoo train text2image --vae` uses it).
Metrics on the held-out split: MSE and PSNR (pixels in [0, 1]) and R^2 of the decoded posterior means, and the KL
per latent element.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from diffusers import AutoencoderKL
from torch import nn

from hf_genzoo.models.autoencoder_kl import autoencoder_kl_for_images
from hf_genzoo.pipelines.autoencoder_kl import AutoencoderKLPipeline

from ..data import TensorData, to_unit_range
from ..errors import UserInputError
from ..metrics import R2Score
from .config import TrainConfig
from .objective import Objective, check_options, model_options

OBJECTIVE_OPTIONS = {"kl_weight": 1e-4}  # read from --model_config, not passed to AutoencoderKL
EVAL_SEED = 1234
SCALING_IMAGES = 2048  # training images whose latents measure the scaling factor


class AutoencoderKLObjective(Objective):
    """Trains diffusers' `AutoencoderKL` on reconstruction + a small KL; see the module docstring."""

    recipe = {
        "resolution": 32,  # 32x32 -> 8x8x4 latents, the size the text-to-image UNet is made for
        "channels": 3,  # RGB, as Stable Diffusion's VAE (grey datasets are copied to three channels)
        "epochs": 10,
        "batch_size": 64,
        "learning_rate": 1e-3,
        "mixed_precision": "auto",  # bf16 where it is native
    }

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if cfg.noise:
            raise UserInputError(f"the autoencoder_kl objective takes no --noise (got {cfg.noise!r})")
        kwargs = cfg.model_kwargs()
        fixed = ("in_channels", "out_channels", "sample_size")
        check_options(kwargs, {"AutoencoderKL": model_options(AutoencoderKL, fixed), "the objective": ["kl_weight"]})
        self.kl_weight = float(kwargs.pop("kl_weight", OBJECTIVE_OPTIONS["kl_weight"]))
        if self.kl_weight < 0:
            raise UserInputError(f"--model_config: kl_weight must be >= 0, got {self.kl_weight}")
        self.vae = autoencoder_kl_for_images(data.channels, data.resolution, **kwargs)
        self.models = {"vae": ReconstructionAndKL(self.vae)}
        self.scaling_images = data.images[:SCALING_IMAGES]  # (n, C, H, W) uint8, memory-mapped

    def losses(self, batch, step):
        x = to_unit_range(batch["pixel_values"]) * 2 - 1  # (B, C, H, W) in [-1, 1]
        reconstruction, kl = self.models["vae"](x)
        yield "vae", F.mse_loss(reconstruction.float(), x) + self.kl_weight * kl.mean()

    @torch.no_grad()
    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        return evaluate_vae(self.vae, loader, accelerator)

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        x = to_unit_range(batch["pixel_values"])  # (N, C, H, W) in [0, 1]
        mean = self.vae.encode(2 * x - 1).latent_dist.mode()
        recon = (self.vae.decode(mean).sample.float().clamp(-1, 1) + 1) / 2
        return torch.stack([x, recon])  # (2, N, C, H, W): originals over reconstructions

    def pipeline(self, accelerator: Accelerator) -> AutoencoderKLPipeline:
        vae = accelerator.unwrap_model(self.models["vae"]).vae.eval()
        vae.register_to_config(scaling_factor=measure_scaling_factor(vae, self.scaling_images))
        return AutoencoderKLPipeline(vae=vae)

    def card_info(self):
        c = self.vae.config
        side = c.sample_size // 2 ** (len(c.block_out_channels) - 1)
        return {
            "tags": ["autoencoder-kl", "latent-diffusion", "vae"],
            "description": f"AutoencoderKL ({c.sample_size}x{c.sample_size} images, "
            f"{side}x{side}x{c.latent_channels} latents)",
            "main_metric": "mse",
        }


class ReconstructionAndKL(nn.Module):
    """The training pass of an `AutoencoderKL` as one module's `forward`: distributed training synchronizes the
    gradients of what runs through the prepared module's call, and `AutoencoderKL.forward` returns no KL."""

    def __init__(self, vae: AutoencoderKL):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """D(z) for one posterior sample z of each image, and KL(q(z|x) || N(0, I)) per latent element `(B,)`."""
        posterior = self.vae.encode(x).latent_dist
        z = posterior.sample()  # (B, c, h, w), reparameterized
        return self.vae.decode(z).sample, posterior.kl().float() / z[0].numel()


@torch.no_grad()
def measure_scaling_factor(vae: AutoencoderKL, images: np.ndarray, batch_size: int = 256) -> float:
    """1 / std of posterior samples of `images` (uint8 `(n, C, H, W)`), Stable Diffusion's `scaling_factor`."""
    g = torch.Generator(device=vae.device).manual_seed(0)
    samples = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.array(images[start : start + batch_size])).to(vae.device, vae.dtype) / 127.5 - 1
        samples.append(vae.encode(x).latent_dist.sample(g).float().flatten())
    return float(1 / torch.cat(samples).std())


@torch.no_grad()
def evaluate_vae(vae: AutoencoderKL, loader, accelerator: Accelerator) -> dict[str, float]:
    """Reconstruction MSE, PSNR and R^2 of the decoded posterior means (pixels in [0, 1]) and the KL per latent
    element, over `loader`."""
    r2, se_sum, kl_sum, pixels, n = R2Score(), 0.0, 0.0, 0, 0
    for batch in loader:
        x = to_unit_range(batch["pixel_values"].to(accelerator.device))  # (B, C, H, W) in [0, 1]
        posterior = vae.encode((2 * x - 1).to(vae.dtype)).latent_dist
        recon = (vae.decode(posterior.mode()).sample.float().clamp(-1, 1) + 1) / 2
        kl = posterior.kl().float() / posterior.mean[0].numel()
        recon, x, kl = accelerator.gather_for_metrics((recon, x, kl))
        r2.update(recon, x)
        se_sum, kl_sum = se_sum + (recon - x).pow(2).sum().item(), kl_sum + kl.sum().item()
        pixels, n = pixels + x.numel(), n + len(x)
    mse = se_sum / pixels
    return {"mse": mse, "psnr": 10 * math.log10(1 / max(mse, 1e-12)), "r2": r2.compute(), "kl": kl_sum / n}


def evaluate_pipeline(pipe: AutoencoderKLPipeline, loader, accelerator: Accelerator, noise: str | None) -> dict:
    """`genzoo evaluate`: the reconstruction metrics of a saved AutoencoderKL on held-out images."""
    if noise:
        raise UserInputError("`genzoo evaluate --noise` is for the denoising autoencoders")
    return evaluate_vae(pipe.vae.to(accelerator.device).eval(), loader, accelerator)
