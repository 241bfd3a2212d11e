"""Normalizing flows for images: RealNVP / Glow, multiscale.

An invertible network maps a latent z ~ N(0, I) to an image x; the change of variables gives the
exact log-likelihood log p(x) = log N(z; 0, I) + log |det dz/dx| with z the latent of x.

References:
    - Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017,
      https://arxiv.org/abs/1605.08803 (affine coupling, squeeze, multiscale factoring-out, logit pre-transform).
    - Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions", NeurIPS 2018,
      https://arxiv.org/abs/1807.03039 (actnorm with data-dependent initialization, LU-decomposed invertible
      1x1 convolution, zero-initialized coupling output, sampling at a temperature).
    - Theis, van den Oord & Bethge, "A note on the evaluation of generative models", ICLR 2016,
      https://arxiv.org/abs/1511.01844 (uniform dequantization; log-likelihood of discrete images).

Sign convention, the same for every layer and for composites (normflows' contract):
    forward(z) -> (x, log_det)    latent -> data,   log_det = log |det dx/dz|
    inverse(x) -> (z, log_det)    data -> latent,   log_det = log |det dz/dx|
`log_det` holds one value per example, `(B,)`. At x = forward(z)[0] the two log-dets are negatives of
each other, and log p(x) = log N(inverse(x)[0]) + inverse(x)[1].

Data: integer pixels k in {0..255} are dequantized to y = (k + u) / 256, u ~ U[0, 1)^D (Theis et al.
2016), and the flow models y in [0, 1)^D, starting with the logit pre-transform of RealNVP (sec 4.1)
y -> logit(alpha + (1 - 2 alpha) y), whose Jacobian is part of the flow. The log-likelihood of the
discrete image is then (one sample of u; a lower bound in expectation)
    log P(k) = log p(y) - D log 256,    bits/dim = -log P(k) / (D log 2),    D = C * H * W.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from diffusers.utils.accelerate_utils import apply_forward_hook
from torch import nn

from ..errors import UserInputError
from .blocks import check_shape, check_side

LOG_2PI = math.log(2 * math.pi)


@dataclass
class FlowOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor`): the output, images `(B, C, H, W)` from `forward`, latents `(B, D)` from `inverse=True`.
        log_det (`torch.Tensor` of shape `(B,)`): log |det| of the Jacobian of that direction.
    """

    sample: torch.Tensor
    log_det: torch.Tensor = None  # a default lets accelerate rebuild the output under mixed precision


def _per_example(log_det: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A log-det that is the same for every example (0-d) -> one per example, `(B,)`."""
    return log_det.expand(like.shape[0])


class Squeeze(nn.Module):
    """Space-to-depth (RealNVP sec 3.6): data side `(B, C, H, W)` <-> latent side `(B, 4C, H/2, W/2)`.
    A permutation of the values, so log_det = 0."""

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.pixel_shuffle(z, 2), z.new_zeros(z.shape[0])  # (B, C/4, 2H, 2W)

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.pixel_unshuffle(x, 2), x.new_zeros(x.shape[0])  # (B, 4C, H/2, W/2)


class ActNorm(nn.Module):
    r"""
    Per-channel affine normalization (Glow sec 3.1): z = (x - loc) * exp(-log_scale).

    The data-dependent initialization sets `loc` and `log_scale` to the per-channel mean and log
    standard deviation of a first batch, so the latent side starts with zero mean and unit variance.
    It runs in `initialize(x)`, or on the first `inverse` in training mode while the `initialized`
    buffer (saved with the model) is false; never in `__init__` (diffusers builds models on the meta
    device).

    Args:
        channels (`int`): channels of the input.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Data-dependent init from `x` `(B, C, H, W)`, the input on the data side."""
        std, mean = torch.std_mean(x.transpose(0, 1).flatten(1), dim=1, correction=0)  # (C,) each
        self.loc.copy_(mean.view_as(self.loc))
        self.log_scale.copy_(std.clamp_min(1e-6).log().view_as(self.log_scale))
        self.initialized.fill_(True)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = z * self.log_scale.exp() + self.loc
        return x, _per_example(z.shape[2] * z.shape[3] * self.log_scale.sum(), z)

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not self.initialized:
            self.initialize(x)
        z = (x - self.loc) * torch.exp(-self.log_scale)
        return z, _per_example(-x.shape[2] * x.shape[3] * self.log_scale.sum(), x)


class InvertibleConv1x1(nn.Module):
    r"""
    Invertible 1x1 convolution, LU-decomposed (Glow sec 3.2, eq. 10): on the data -> latent side
    z = W x at every pixel with W = P L (U + diag(sign_s * exp(log_s))), so
    log |det dz/dx| = H * W * sum(log_s) costs O(C). P and sign_s are fixed; L is unit lower
    triangular, U strictly upper triangular (only those parts of `lower` and `upper` are used).
    W starts as a random rotation, as in Glow.

    Args:
        channels (`int`): channels of the input.
    """

    def __init__(self, channels: int):
        super().__init__()
        rotation = torch.linalg.qr(torch.randn(channels, channels))[0]  # fresh random numbers, not parameters
        perm, lower, upper = torch.linalg.lu(rotation)
        s = torch.diagonal(upper)
        self.register_buffer("perm", perm)
        self.register_buffer("sign_s", torch.sign(s))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(upper)
        self.log_s = nn.Parameter(s.abs().log())

    def weight(self) -> torch.Tensor:
        """W `(C, C)`, the data -> latent matrix."""
        eye = torch.eye(self.log_s.shape[0], device=self.log_s.device, dtype=self.log_s.dtype)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign_s * self.log_s.exp())
        return self.perm @ lower @ upper

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w_inv = torch.linalg.inv(self.weight())
        x = F.conv2d(z, w_inv[:, :, None, None])
        return x, _per_example(-z.shape[2] * z.shape[3] * self.log_s.sum(), z)

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = F.conv2d(x, self.weight()[:, :, None, None])
        return z, _per_example(x.shape[2] * x.shape[3] * self.log_s.sum(), x)


class AffineCoupling(nn.Module):
    r"""
    Affine coupling (RealNVP eq. 7-8). The data-side input splits channel-wise into (x_a, x_b); a
    small conv net of x_a predicts a log-scale s and a shift t, and
        z_a = x_a,   z_b = x_b * exp(s) + t,   log |det dz/dx| = sum(s).
    s = scale * tanh(raw) bounds the scale per layer (RealNVP sec 4.1) for stable training. The last
    convolution starts at zero (Glow sec 3.3), so the layer starts as the identity.

    Args:
        channels (`int`): channels of the input (at least 2).
        hidden_channels (`int`): width of the conv net.
    """

    def __init__(self, channels: int, hidden_channels: int):
        super().__init__()
        self.split = [channels // 2, channels - channels // 2]
        ca, cb = self.split
        self.net = nn.Sequential(
            nn.Conv2d(ca, hidden_channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hidden_channels, hidden_channels, 1), nn.ReLU(),
            nn.Conv2d(hidden_channels, 2 * cb, 3, padding=1),
        )  # fmt: skip
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.scale = nn.Parameter(torch.ones(1, cb, 1, 1))

    def _log_scale_and_shift(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw, shift = self.net(a).chunk(2, dim=1)  # (B, cb, H, W) each
        return self.scale * torch.tanh(raw), shift

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        za, zb = z.split(self.split, dim=1)
        s, t = self._log_scale_and_shift(za)
        x = torch.cat([za, (zb - t) * torch.exp(-s)], dim=1)
        return x, -s.flatten(1).sum(1)

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xa, xb = x.split(self.split, dim=1)
        s, t = self._log_scale_and_shift(xa)
        z = torch.cat([xa, xb * torch.exp(s) + t], dim=1)
        return z, s.flatten(1).sum(1)


class LogitTransform(nn.Module):
    r"""
    RealNVP's pre-transform (sec 4.1): data side y in [0, 1] <-> latent side
    z = logit(p), p = alpha + (1 - 2 alpha) y, so log |dz/dy| = log(1 - 2 alpha) - log p - log(1 - p)
    per dimension. `alpha` keeps z finite at y = 0 and y = 1.

    Args:
        alpha (`float`): in (0, 0.5).
    """

    def __init__(self, alpha: float):
        super().__init__()
        self.alpha = alpha

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (torch.sigmoid(z) - self.alpha) / (1 - 2 * self.alpha)
        # log |dx/dz| = log sigmoid(z) + log(1 - sigmoid(z)) - log(1 - 2 alpha), with log sigmoid(z) = -softplus(-z)
        log_det = -(F.softplus(-z) + F.softplus(z)).flatten(1).sum(1)
        return x, log_det - math.prod(z.shape[1:]) * math.log(1 - 2 * self.alpha)

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.alpha + (1 - 2 * self.alpha) * x
        log_p, log_1mp = torch.log(p), torch.log1p(-p)
        log_det = -(log_p + log_1mp).flatten(1).sum(1)
        return log_p - log_1mp, log_det + math.prod(x.shape[1:]) * math.log(1 - 2 * self.alpha)


class FlowSequence(nn.Module):
    """A composite flow: `layers` in the data -> latent order; `inverse` runs them in that order,
    `forward` in reverse, and the log-dets add up."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = z.new_zeros(z.shape[0])
        for layer in reversed(self.layers):
            z, ld = layer(z)
            log_det = log_det + ld
        return z, log_det

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer.inverse(x)
            log_det = log_det + ld
        return x, log_det


def flow_step(channels: int, hidden_channels: int) -> FlowSequence:
    """One step of Glow (Fig. 2a), data -> latent: actnorm, invertible 1x1 convolution, affine coupling."""
    return FlowSequence([ActNorm(channels), InvertibleConv1x1(channels), AffineCoupling(channels, hidden_channels)])


class Flow(ModelMixin, ConfigMixin):
    r"""
    Multiscale normalizing flow for images (RealNVP sec 3.6, Glow Fig. 2b). Data -> latent: the
    logit pre-transform, then per level a squeeze `(c, s, s) -> (4c, s/2, s/2)` and `steps_per_level`
    flow steps; after every level but the last, half the channels are factored out to the standard
    Gaussian. The latent `z` is the flat concatenation `(B, D)` of the factored-out parts (level order)
    and the last level's output; D = in_channels * sample_size**2.

    `forward(z)` maps latents to images (sample with z ~ N(0, T^2 I) for temperature T), `inverse(x)`
    images in [0, 1] to latents; the sign convention of the log-dets is in the module docstring.

    Args:
        in_channels (`int`, *optional*, defaults to 1): image channels.
        sample_size (`int`, *optional*, defaults to 28): image height and width; must be divisible
            by `2 ** num_levels` (one squeeze per level).
        num_levels (`int`, *optional*, defaults to 2): squeeze levels (scales).
        steps_per_level (`int`, *optional*, defaults to 8): flow steps (actnorm, 1x1 conv, coupling) per level.
        hidden_channels (`int`, *optional*, defaults to 128): width of the coupling conv nets.
        logit_alpha (`float`, *optional*, defaults to 0.05): alpha of the logit pre-transform
            ([RealNVP](https://arxiv.org/abs/1605.08803) sec 4.1), in (0, 0.5).
    """

    @register_to_config
    def __init__(
        self,
        *,
        in_channels: int = 1,
        sample_size: int = 28,
        num_levels: int = 2,
        steps_per_level: int = 8,
        hidden_channels: int = 128,
        logit_alpha: float = 0.05,
    ):
        super().__init__()
        if num_levels < 1 or steps_per_level < 1 or hidden_channels < 1 or in_channels < 1:
            raise UserInputError(
                "in_channels, num_levels, steps_per_level and hidden_channels must be positive; got "
                f"{in_channels}, {num_levels}, {steps_per_level}, {hidden_channels}"
            )
        check_side("Flow", sample_size, num_levels, "squeeze levels (num_levels)")
        if not 0 < logit_alpha < 0.5:
            raise UserInputError(f"logit_alpha must be in (0, 0.5), got {logit_alpha}")
        self.preprocess = LogitTransform(logit_alpha)
        levels, self.latent_shapes = [], []
        c, s = in_channels, sample_size
        for i in range(num_levels):
            c, s = 4 * c, s // 2
            levels.append(FlowSequence([Squeeze(), *(flow_step(c, hidden_channels) for _ in range(steps_per_level))]))
            if i < num_levels - 1:
                c //= 2  # the other half is factored out
            self.latent_shapes.append((c, s, s))
        self.levels = nn.ModuleList(levels)

    @property
    def num_dims(self) -> int:
        """D = C * H * W."""
        return self.config.in_channels * self.config.sample_size**2

    def forward(self, z: torch.Tensor, *, inverse: bool = False, return_dict: bool = True) -> FlowOutput | tuple:
        """Latents `(B, D)` -> images `(B, C, H, W)` in [0, 1] (up to the flow's error) and log |det dx/dz| `(B,)`,
        as a `FlowOutput`, or with `return_dict=False` the flow contract's tuple `(x, log_det)`.

        `inverse=True` runs `inverse` instead: DistributedDataParallel synchronizes gradients only of
        what goes through the module's call, so training calls `flow(y, inverse=True)`."""
        x, log_det = self.inverse(z) if inverse else self._forward(z)
        return FlowOutput(sample=x, log_det=log_det) if return_dict else (x, log_det)

    def _forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_shape("Flow", z, (self.num_dims,), "latents")
        parts = z.split([math.prod(shape) for shape in self.latent_shapes], dim=1)
        b = z.shape[0]
        h, log_det = parts[-1].view(b, *self.latent_shapes[-1]), z.new_zeros(b)
        for i in reversed(range(len(self.levels))):
            if i < len(self.levels) - 1:
                h = torch.cat([parts[i].view(b, *self.latent_shapes[i]), h], dim=1)  # (B, 4c, s, s)
            h, ld = self.levels[i](h)
            log_det = log_det + ld
        x, ld = self.preprocess(h)  # (B, C, H, W)
        return x, log_det + ld

    @apply_forward_hook  # moves the model to the device first under `enable_model_cpu_offload`, as `forward` does
    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Dequantized) images `(B, C, H, W)` in [0, 1] -> (latents `(B, D)`, log |det dz/dx| `(B,)`)."""
        c, s = self.config.in_channels, self.config.sample_size
        check_shape("Flow", x, (c, s, s), "images")
        # 1. logit pre-transform (RealNVP sec 4.1)
        h, log_det = self.preprocess.inverse(x)  # (B, C, H, W)
        # 2. per level: squeeze and flow steps, then factor out half the channels (RealNVP eq. 13-14)
        parts = []
        for i, level in enumerate(self.levels):
            h, ld = level.inverse(h)  # (B, 4c, s, s)
            log_det = log_det + ld
            if i < len(self.levels) - 1:
                factored, h = h.split([self.latent_shapes[i][0], h.shape[1] - self.latent_shapes[i][0]], dim=1)
                parts.append(factored.flatten(1))
        # 3. the last level's output is the rest of z
        parts.append(h.flatten(1))
        return torch.cat(parts, dim=1), log_det  # (B, D)

    def uniform_dequantize(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images with integer values (uint8 0..255, or floats k/255 in [0, 1] as from `to_unit_range`)
        -> y = (k + u) / 256 with u ~ U[0, 1) (Theis et al. 2016), in the model's dtype."""
        if images.is_floating_point():
            counts = (images.to(self.dtype) * 255).round()
        else:
            counts = images.to(self.dtype)
        u = torch.rand(counts.shape, generator=generator, device=counts.device, dtype=counts.dtype)
        return (counts + u) / 256

    def log_prob_of_latents(self, z: torch.Tensor, log_det: torch.Tensor) -> torch.Tensor:
        """Log-likelihood in nats of the discrete images whose dequantized versions `inverse` mapped to
        (`z`, `log_det`): log N(z; 0, I) + log_det - D log 256, `(B,)`."""
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(1)  # standard Gaussian base
        # change of variables (RealNVP eq. 3), then the 1/256 scaling of the dequantized pixels
        return log_pz + log_det - self.num_dims * math.log(256)

    def log_prob(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Log-likelihood in nats of integer-valued images (see `uniform_dequantize`), `(B,)`; one sample of
        the dequantization noise (drawn with `generator`)."""
        return self.log_prob_of_latents(*self.inverse(self.uniform_dequantize(images, generator)))

    def to_bits_per_dim(self, log_prob: torch.Tensor) -> torch.Tensor:
        """Nats per image -> bits per dimension: -log P / (D log 2)."""
        return -log_prob / (self.num_dims * math.log(2))

    def bits_per_dim(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Bits per dimension of integer-valued images, `(B,)` (see `log_prob`)."""
        return self.to_bits_per_dim(self.log_prob(images, generator))

    @torch.no_grad()
    def initialize(self, images: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Data-dependent initialization of every actnorm (Glow sec 3.1) from a batch of integer-valued
        images: one data -> latent pass in which each actnorm initializes from its own input."""
        for module in self.modules():
            if isinstance(module, ActNorm):
                module.initialized.fill_(False)
        was_training = self.training
        self.train()
        self.inverse(self.uniform_dequantize(images, generator))
        self.train(was_training)

    @staticmethod
    def to_pixels(x: torch.Tensor) -> torch.Tensor:
        """Output of `forward` -> images in [0, 1]."""
        return x.clamp(0, 1)
