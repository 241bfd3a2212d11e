"""Objective of the VAE family (Kingma & Welling 2014, arXiv:1312.6114).

Loss per image x in [0, 1], in nats (the negative ELBO, eq. 10, with a KL weight):
    loss = -log p(x|z) + w(step) * KL(q(z|x) || N(0, I)),   z = mu + sigma * eps (one sample)
    w(step) = beta * min(1, step / kl_warmup_steps)          (w = beta when kl_warmup_steps = 0)
`beta` (defaults to 1: the ELBO; Higgins et al. 2017 use beta > 1) and `kl_warmup_steps` (defaults to 0;
Bowman et al. 2016 anneal the KL in from 0) are objective options, given in `--model_config` next to
the model's own options and taken out before the model is built:
    genzoo train vae --model_config 'latent_dim=2,beta=1.0,kl_warmup_steps=500'
The decoder's likelihood is a model option (`likelihood='bernoulli'` or `'gaussian'`, see `VAE`).

Evaluation on the held-out split (always beta = 1, one posterior sample per image from a fixed seed):
    nelbo          -ELBO in nats per image, an upper bound on -log p(x), averaged over images
    bits_per_dim   nelbo / (C * H * W * ln 2)
    recon_nll, kl  the two terms of nelbo
    r2             R^2 of the decoded posterior mean (`to_pixels`) against the image, in pixel space [0, 1]
What the likelihood is a likelihood of:
    - gaussian: the 8-bit image itself; each pixel's probability is the Gaussian's mass over its
      level's bin (`discretized_gaussian_log_likelihood`), so bits/dim compares with flows and PixelCNNs.
    - bernoulli: the grey intensities are targets of a binary cross-entropy, which is not a density of
      grey images. It is the expected -log p(b|z) of the binarized image b ~ Bernoulli(x) (each pixel
      1 with probability x); since the ELBO holds for any q, nelbo bounds E_b[-log p(b)] from above,
      and bits/dim is per binary pixel of that stochastically binarized image.
"""

import math

import torch
from accelerate import Accelerator
from diffusers.utils.torch_utils import randn_tensor

from hf_genzoo.models.vae import VAE
from hf_genzoo.pipelines.vae import VAEPipeline

from ..data import TensorData, to_unit_range
from ..errors import UserInputError
from ..metrics import R2Score
from .config import TrainConfig
from .objective import Objective, build_model, check_options, model_options

OBJECTIVE_OPTIONS = {"beta": 1.0, "kl_warmup_steps": 0}  # read from --model_config, not passed to VAE
EVAL_SEED = 1234  # the same posterior samples at every evaluation
PICTURE_SEED = 0  # the same prior samples in every picture


@torch.no_grad()
def evaluate_vae(model, loader, accelerator: Accelerator) -> dict[str, float]:
    """Negative ELBO (nats per image and bits/dim, beta = 1), its two terms, and the R^2 of the posterior-mean
    reconstruction, over `loader`. `model` may be accelerate-prepared. The posterior samples are seeded: every
    evaluation draws the same ones."""
    vae = accelerator.unwrap_model(model)
    g = torch.Generator(device=accelerator.device).manual_seed(EVAL_SEED)
    r2, nll_sum, kl_sum, n = R2Score(), 0.0, 0.0, 0
    for batch in loader:
        x = to_unit_range(batch["pixel_values"].to(accelerator.device))  # (B, C, H, W) in [0, 1]
        out = model(x, generator=g)
        mean = out.latent_dist.mode().to(vae.dtype)  # decode the posterior mean for R^2
        recon = vae.to_pixels(vae.decode(mean).sample.float())  # (B, C, H, W)
        nll = vae.reconstruction_nll(out.sample, x)  # (B,)
        nll, kl, recon, x = accelerator.gather_for_metrics((nll, out.kl.float(), recon, x))
        r2.update(recon, x)
        nll_sum, kl_sum, n = nll_sum + nll.sum().item(), kl_sum + kl.sum().item(), n + len(x)
    nelbo = (nll_sum + kl_sum) / n
    dims = vae.config.in_channels * vae.config.sample_size**2
    return {
        "nelbo": nelbo,
        "bits_per_dim": nelbo / (dims * math.log(2)),
        "recon_nll": nll_sum / n,
        "kl": kl_sum / n,
        "r2": r2.compute(),
    }


class VAEObjective(Objective):
    """Trains a [`VAE`] on the negative ELBO; see the module docstring for options and metrics."""

    recipe = {
        "loss": "elbo",  # shown in the model card; the likelihood itself is --model_config likelihood=...
        "learning_rate": 1e-3,  # Adam's default; stable for this small conv VAE at batch 128
        "batch_size": 128,
        "epochs": 20,  # fashion_mnist: the negative ELBO still falls after 10 epochs
    }

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if cfg.loss != "elbo":
            raise UserInputError(
                f"the VAE's loss is the negative ELBO, not --loss {cfg.loss!r}: leave --loss unset and choose the "
                f"reconstruction term with --model_config likelihood='bernoulli' or 'gaussian'"
            )
        if cfg.noise:
            raise UserInputError(f"--noise is for denoising autoencoders; the VAE corrupts no input, got {cfg.noise!r}")
        kwargs = cfg.model_kwargs()
        fixed = {"in_channels": data.channels, "sample_size": data.resolution}
        check_options(kwargs, {"VAE": model_options(VAE, fixed), "the objective": list(OBJECTIVE_OPTIONS)})
        options = {k: kwargs.pop(k, v) for k, v in OBJECTIVE_OPTIONS.items()}
        self.beta, self.kl_warmup_steps = float(options["beta"]), int(options["kl_warmup_steps"])
        if self.beta < 0 or self.kl_warmup_steps < 0:
            raise UserInputError(f"--model_config: beta and kl_warmup_steps must be >= 0, got {options}")
        self.vae = build_model(VAE, cfg, kwargs, **fixed)
        self.models = {"vae": self.vae}

    def kl_weight(self, step: int) -> float:
        """beta, ramped linearly from 0 over the first `kl_warmup_steps` optimizer steps."""
        if self.kl_warmup_steps == 0:
            return self.beta
        return self.beta * min(1.0, step / self.kl_warmup_steps)

    def losses(self, batch, step):
        x = to_unit_range(batch["pixel_values"])  # (B, C, H, W) in [0, 1]
        out = self.models["vae"](x)
        nll = self.vae.reconstruction_nll(out.sample, x)  # (B,)
        yield "vae", (nll + self.kl_weight(step) * out.kl.float()).mean()

    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        return evaluate_vae(self.models["vae"], loader, accelerator)

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        x = to_unit_range(batch["pixel_values"])  # (N, C, H, W)
        recon = self.vae.to_pixels(self.vae(x, sample_posterior=False).sample.float())
        g = torch.Generator(device=x.device).manual_seed(PICTURE_SEED)
        z = randn_tensor((len(x), *self.vae.latent_shape), generator=g, device=x.device, dtype=self.vae.dtype)
        samples = self.vae.to_pixels(self.vae.decode(z).sample.float())
        return torch.stack([x, recon, samples])  # (3, N, C, H, W): originals, reconstructions, prior samples

    def pipeline(self, accelerator: Accelerator) -> VAEPipeline:
        return VAEPipeline(vae=accelerator.unwrap_model(self.models["vae"]))

    def card_info(self):
        c = self.vae.config
        latent = f"{c.latent_dim}-d latent" if c.latent == "vector" else f"{c.latent_channels}-channel latent map"
        return {
            "tags": ["vae", "variational-autoencoder", c.likelihood],
            "description": f"VAE ({latent}, {c.likelihood} decoder)",
            "main_metric": "nelbo",
        }


def evaluate_pipeline(pipe: VAEPipeline, loader, accelerator: Accelerator, noise: str | None) -> dict:
    """`genzoo evaluate`: the negative ELBO of a saved VAE on the held-out images."""
    if noise:
        raise UserInputError("a VAE is not a denoiser: `genzoo evaluate` takes --noise for autoencoders only")
    return evaluate_vae(pipe.vae.to(accelerator.device).eval(), loader, accelerator)
