"""The variational autoencoder: a Gaussian posterior q(z|x), a standard normal prior p(z), a decoder p(x|z).

References:
    - Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (arXiv:1312.6114): the
      reparameterized posterior sample (eq. 10), the ELBO with a closed-form KL (eq. 10, appendix B),
      Bernoulli and Gaussian decoders (appendix C), the 2-D latent manifold (fig. 4).
    - Rybkin, Daniilidis & Levine, "Simple and Effective VAE Training with Calibrated Decoders",
      ICML 2021 (arXiv:2006.13202): a Gaussian decoder whose scale is learned (sigma-VAE).
    - Salimans et al., "PixelCNN++", ICLR 2017 (arXiv:1701.05517): discretizing a continuous
      decoder over the 256 pixel levels so the likelihood is a probability, comparable in bits/dim.

Images are in [0, 1]. The decoder's output (`decode(z).sample`) holds the parameters of p(x|z),
chosen by `likelihood`:
    - `"bernoulli"` (default): per-pixel logits. The intensity x is the target of a binary
      cross-entropy, i.e. the expected log-likelihood of the binarized image b ~ Bernoulli(x).
    - `"gaussian"`: per-pixel means; the scale sigma is one value per channel, learned (default)
      or fixed. The likelihood is discretized over the 256 levels k/255 of 8-bit images.
`to_pixels` maps either to images in [0, 1] (the decoder's mean).

The model speaks diffusers' VAE protocol (`AutoencoderKL`): `encode(x).latent_dist` is a
`DiagonalGaussianDistribution` over latents of shape `(B, latent_dim, 1, 1)` (vector latent) or
`(B, latent_channels, h, w)` (map latent), and `decode(z).sample` gives the decoder's output.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
from diffusers.models.modeling_outputs import AutoencoderKLOutput
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from diffusers.utils.accelerate_utils import apply_forward_hook
from torch import nn

from ..errors import UserInputError
from .blocks import check_shape, check_side, conv_down, conv_up

LIKELIHOODS = ("bernoulli", "gaussian")
LATENTS = ("vector", "map")
MIN_LOG_SCALE = math.log(1e-3)  # sigma floor of the Gaussian decoder: about a quarter of one 8-bit level (1/255)


@dataclass
class VAEOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(B, C, H, W)`):
            The decoder's output for the latent used (logits or means, see `VAE.to_pixels`).
        latent_dist (`DiagonalGaussianDistribution`):
            The posterior q(z|x); its `mean` and `logvar` are the two encoder heads.
        kl (`torch.Tensor` of shape `(B,)`):
            KL(q(z|x) || N(0, I)) per image, in nats.
    """

    sample: torch.Tensor
    # Defaults let accelerate rebuild the output from a dict (its fp32 conversion under mixed precision).
    latent_dist: DiagonalGaussianDistribution | None = None
    kl: torch.Tensor | None = None


def _log_sub_exp(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """log(exp(u) - exp(v)) for u >= v, finite (gradients too) when u == v."""
    return u + torch.log(-torch.expm1((v - u).clamp(max=-1e-12)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    r"""
    Log-probability of each pixel of `x` (in [0, 1], on the grid k/255) under a Gaussian N(mean, sigma^2)
    integrated over the pixel's bin [x - 1/510, x + 1/510]; the first and last bins extend to -inf and +inf,
    so the 256 probabilities sum to one (Salimans et al. 2017, eq. 2, with a Gaussian for the logistic).

    Returns a tensor shaped like `x`, in nats.
    """
    half_bin = 0.5 / 255.0
    inv_sigma = torch.exp(-log_scale)
    lo = (x - half_bin - mean) * inv_sigma  # standardized bin edges
    hi = (x + half_bin - mean) * inv_sigma
    log_cdf_hi, log_sf_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(-lo)
    # Phi(hi) - Phi(lo), from whichever tail keeps the difference accurate
    interior = torch.where(
        lo > 0,
        _log_sub_exp(log_sf_lo, torch.special.log_ndtr(-hi)),
        _log_sub_exp(log_cdf_hi, torch.special.log_ndtr(lo)),
    )
    return torch.where(x < half_bin, log_cdf_hi, torch.where(x > 1 - half_bin, log_sf_lo, interior))


class VAE(ModelMixin, ConfigMixin):
    r"""
    Convolutional VAE (Kingma & Welling 2014). Stride-2 Conv2d blocks halve the resolution; two heads
    give the posterior mean and log-variance; the decoder mirrors the encoder with ConvTranspose2d blocks.

    Args:
        in_channels (`int`, *optional*, defaults to 1): image channels.
        sample_size (`int`, *optional*, defaults to 28): image height and width; must be divisible by
            `2 ** len(block_out_channels)`.
        block_out_channels (`tuple[int]`, *optional*, defaults to `(32, 64)`): channels after each
            downsampling block.
        latent (`str`, *optional*, defaults to `"vector"`): `"vector"` flattens the last feature map into
            `latent_dim` Gaussian latents; `"map"` keeps `latent_channels` latent maps at the last resolution
            (for latent diffusion).
        latent_dim (`int`, *optional*, defaults to 16): size of the vector latent; 2 draws a latent manifold.
        latent_channels (`int`, *optional*, defaults to 4): channels of the latent map (`latent="map"`).
        likelihood (`str`, *optional*, defaults to `"bernoulli"`): decoder distribution, `"bernoulli"`
            (output: logits) or `"gaussian"` (output: means; discretized over 256 levels).
        decoder_scale (`float`, *optional*, defaults to 0.1): sigma of the Gaussian decoder in pixel units
            ([0, 1]); its initial value when learned.
        learn_decoder_scale (`bool`, *optional*, defaults to `True`): learn one sigma per channel
            ([sigma-VAE](https://arxiv.org/abs/2006.13202)) instead of keeping `decoder_scale` fixed.
        scaling_factor (`float`, *optional*, defaults to 1.0): latents are multiplied by it before a latent
            diffusion model sees them and divided by it before `decode`, as with `AutoencoderKL`. The prior
            is already N(0, I), so 1.0 is right unless the aggregate posterior is far from it.
    """

    @register_to_config
    def __init__(
        self,
        *,
        in_channels: int = 1,
        sample_size: int = 28,
        block_out_channels: Sequence[int] = (32, 64),
        latent: str = "vector",
        latent_dim: int = 16,
        latent_channels: int = 4,
        likelihood: str = "bernoulli",
        decoder_scale: float = 0.1,
        learn_decoder_scale: bool = True,
        scaling_factor: float = 1.0,
    ):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise UserInputError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if latent not in LATENTS:
            raise UserInputError(f"latent must be one of {LATENTS}, got {latent!r}")
        if not block_out_channels:
            raise UserInputError("block_out_channels needs at least one block, e.g. (32, 64)")
        if decoder_scale <= 0:
            raise UserInputError(f"decoder_scale must be positive, got {decoder_scale}")
        s = check_side("VAE", sample_size, len(block_out_channels))  # side of the last feature map
        c_last = block_out_channels[-1]
        chans = [in_channels, *block_out_channels]
        self.encoder = nn.Sequential(*conv_down(chans, nn.SiLU, norm=False))  # (B, C, H, W) -> (B, c_last, s, s)
        if latent == "vector":
            self.mean_head = nn.Sequential(nn.Flatten(), nn.Linear(c_last * s * s, latent_dim))  # (B, D)
            self.logvar_head = nn.Sequential(nn.Flatten(), nn.Linear(c_last * s * s, latent_dim))
            from_latent = [nn.Flatten(), nn.Linear(latent_dim, c_last * s * s), nn.Unflatten(1, (c_last, s, s))]
        else:
            self.mean_head = nn.Conv2d(c_last, latent_channels, 1)  # (B, latent_channels, s, s)
            self.logvar_head = nn.Conv2d(c_last, latent_channels, 1)
            from_latent = [nn.Conv2d(latent_channels, c_last, 3, padding=1)]
        up = conv_up(chans[::-1], nn.SiLU, norm=False)  # (B, c_last, s, s) -> (B, C, H, W)
        self.decoder = nn.Sequential(*from_latent, nn.SiLU(), *up)  # latents -> (B, C, H, W)
        if likelihood == "gaussian" and learn_decoder_scale:
            self.log_scale = nn.Parameter(torch.full((in_channels,), math.log(decoder_scale)))

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """Shape of one latent as `encode` gives it: `(latent_dim, 1, 1)` or `(latent_channels, h, w)`."""
        c = self.config
        if c.latent == "vector":
            return (c.latent_dim, 1, 1)
        s = c.sample_size // 2 ** len(c.block_out_channels)
        return (c.latent_channels, s, s)

    @apply_forward_hook  # moves the model to the device first under `enable_model_cpu_offload`, as AutoencoderKL's
    def encode(self, x: torch.Tensor, return_dict: bool = True) -> AutoencoderKLOutput | tuple:
        """Images in [0, 1] `(B, C, H, W)` -> the posterior q(z|x) as `latent_dist`."""
        c, s = self.config.in_channels, self.config.sample_size
        check_shape("VAE", x, (c, s, s), "images in [0, 1]")
        h = self.encoder(2 * x - 1)  # (B, c_last, s, s); centred input
        mean, logvar = self.mean_head(h), self.logvar_head(h)  # (B, D) or (B, latent_channels, s, s)
        if self.config.latent == "vector":
            mean, logvar = mean[..., None, None], logvar[..., None, None]  # (B, D, 1, 1): the distribution's layout
        posterior = DiagonalGaussianDistribution(torch.cat([mean, logvar], dim=1))
        return AutoencoderKLOutput(latent_dist=posterior) if return_dict else (posterior,)

    @apply_forward_hook
    def decode(self, z: torch.Tensor, return_dict: bool = True) -> DecoderOutput | tuple:
        """Latents `(B, *latent_shape)` (a vector latent may also be `(B, latent_dim)`) -> decoder output
        `(B, C, H, W)`: logits (Bernoulli) or means (Gaussian); `to_pixels` maps it to [0, 1]."""
        if self.config.latent == "vector" and z.ndim == 2:
            z = z[..., None, None]  # (B, D, 1, 1)
        check_shape("VAE.decode", z, self.latent_shape, "latents")
        if self.config.latent == "vector":
            z = z.flatten(1)  # (B, D)
        sample = self.decoder(z)  # (B, C, H, W)
        return DecoderOutput(sample=sample) if return_dict else (sample,)

    def to_pixels(self, sample: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """Decoder output -> its mean image in [0, 1]; with `inplace`, in `sample`'s own memory (a pipeline's output
        that nothing else holds: no new batch-sized tensor)."""
        if self.config.likelihood == "bernoulli":
            return sample.sigmoid_() if inplace else torch.sigmoid(sample)
        return sample.clamp_(0, 1) if inplace else sample.clamp(0, 1)

    def decoder_log_scale(self) -> torch.Tensor:
        """log sigma of the Gaussian decoder, `(C,)`, floored at `MIN_LOG_SCALE`."""
        if self.config.likelihood != "gaussian":
            raise UserInputError("only the Gaussian decoder has a scale (likelihood='gaussian')")
        if self.config.learn_decoder_scale:
            return self.log_scale.clamp(min=MIN_LOG_SCALE)
        log_scale = max(math.log(self.config.decoder_scale), MIN_LOG_SCALE)
        return torch.full((self.config.in_channels,), log_scale, device=self.device, dtype=self.dtype)

    def reconstruction_nll(self, sample: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per image `(B,)` in nats, from the decoder output `sample` and images `x` in [0, 1].

        Bernoulli: sum over pixels of BCE(logits, x), the expected -log p(b|z) of b ~ Bernoulli(x).
        Gaussian: sum over pixels of -log of the discretized Gaussian's probability of x's 8-bit level.
        """
        sample, x = sample.float(), x.float()
        if self.config.likelihood == "bernoulli":
            nll = F.binary_cross_entropy_with_logits(sample, x, reduction="none")
        else:
            log_scale = self.decoder_log_scale().float().view(1, -1, 1, 1)  # (1, C, 1, 1)
            nll = -discretized_gaussian_log_likelihood(x, sample, log_scale)
        return nll.flatten(1).sum(1)  # (B,)

    def forward(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        sample_posterior: bool = True,
        return_dict: bool = True,
    ) -> VAEOutput | tuple:
        r"""
        Args:
            x (`torch.Tensor` of shape `(B, C, H, W)`): images in [0, 1].
            generator (`torch.Generator`, *optional*): for the posterior sample.
            sample_posterior (`bool`, *optional*, defaults to `True`): decode z = mu + sigma * eps (training,
                the ELBO); `False` decodes the posterior mean (a deterministic reconstruction).
            return_dict (`bool`, *optional*, defaults to `True`): a `VAEOutput`, else `(sample, latent_dist, kl)`.
        """
        # 1. posterior q(z|x) = N(mu, diag sigma^2) from the two heads
        posterior = self.encode(x).latent_dist
        # 2. reparameterization z = mu + sigma * eps, eps ~ N(0, I) (sec. 2.4, eq. 10)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        # 3. KL(q(z|x) || N(0, I)) = 1/2 sum(mu^2 + sigma^2 - 1 - log sigma^2) (eq. 10, appendix B)
        out = VAEOutput(sample=self.decode(z).sample, latent_dist=posterior, kl=posterior.kl())
        return out if return_dict else out.to_tuple()
