"""Denoising Diffusion GAN (Xiao, Kreis & Vahdat, ICLR 2022, arXiv:2112.07804): the two time-conditioned networks.

A diffusion of only T (2, 4 or 8) steps has large denoising steps, whose true posterior p(x_{t-1} | x_t) is far from
the Gaussian a DDPM assumes. DDGAN models each step with a conditional GAN instead:

    generator      G(x_t, z, t) -> x0', a guess of the clean image; x_{t-1} is then drawn from the Gaussian
                   posterior q(x_{t-1} | x_t, x0') of the forward process (their eq. 6), so the multimodal part of
                   the step is G's, through its latent z, and the rest is closed form.
    discriminator  D(x_{t-1}, x_t, t) -> the logit that the pair is a real step of the forward process rather than
                   one of G's (their eq. 4).

The generator is diffusers' own `UNet2DModel` (the DDPM's denoiser) with its output squashed by tanh, and z entered
the way their NCSN++ generator enters it: a mapping MLP turns z into a vector that joins the time embedding, and the
sum modulates every residual block's GroupNorm (adaptive group normalization: `resnet_time_scale_shift=
"scale_shift"`, `class_embed_type="identity"`). The discriminator follows their small one for 32x32 images: the two
images side by side as channels, residual blocks that halve the side with the time embedding added after their first
convolution, the minibatch standard deviation as one more feature map, a last convolution, a sum over positions and
one linear logit.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import get_timestep_embedding
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..errors import UserInputError
from .blocks import check_shape, check_side
from .unet import check_unet_config


@dataclass
class DDGANGeneratorOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(B, C, H, W)`): the predicted clean images x0' in [-1, 1].
    """

    sample: torch.Tensor


@dataclass
class DDGANDiscriminatorOutput(BaseOutput):
    """
    Args:
        logits (`torch.Tensor` of shape `(B,)`): log-odds that each (x_{t-1}, x_t) pair is a real denoising step.
    """

    logits: torch.Tensor


class DDGANGenerator(ModelMixin, ConfigMixin):
    r"""
    G(x_t, z, t) -> x0': a `UNet2DModel` whose time embedding is joined by a mapping of the latent z (adaptive
    GroupNorm in every residual block), with a tanh output.

    Args:
        in_channels (`int`, *optional*, defaults to 1): image channels.
        sample_size (`int`, *optional*, defaults to 28): image side; divisible by `2 ** (len(block_out_channels) - 1)`.
        latent_dim (`int`, *optional*, defaults to 100): size of z (the paper's `nz`).
        mapping_layers (`int`, *optional*, defaults to 3): layers of the MLP from z to the embedding (paper: 4).
        block_out_channels (`tuple[int]`, *optional*, defaults to `(32, 64, 128)`): the UNet's widths per resolution.
        layers_per_block (`int`, *optional*, defaults to 2): residual blocks per resolution.
        down_block_types, up_block_types (`tuple[str]`): diffusers block names, one per resolution; self-attention
            at the lowest resolution by default (the paper attends at 16x16 of 32x32).
        attention_head_dim (`int`, *optional*, defaults to 32): width of an attention head.
        norm_num_groups (`int`, *optional*, defaults to 32): GroupNorm groups; divides every width.
    """

    @register_to_config
    def __init__(
        self,
        *,
        in_channels: int = 1,
        sample_size: int = 28,
        latent_dim: int = 100,
        mapping_layers: int = 3,
        block_out_channels: Sequence[int] = (32, 64, 128),
        layers_per_block: int = 2,
        down_block_types: Sequence[str] = ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types: Sequence[str] = ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim: int = 32,
        norm_num_groups: int = 32,
    ):
        super().__init__()
        if latent_dim < 1 or mapping_layers < 1:
            raise UserInputError(f"latent_dim and mapping_layers must be positive, got {latent_dim}, {mapping_layers}")
        check_unet_config(
            sample_size, block_out_channels, down_block_types, up_block_types, norm_num_groups, attention_head_dim
        )
        embed_dim = 4 * block_out_channels[0]  # UNet2DModel's time-embedding width
        layers, width = [], latent_dim
        for _ in range(mapping_layers):
            layers += [nn.Linear(width, embed_dim), nn.SiLU()]
            width = embed_dim
        self.mapping = nn.Sequential(*layers)  # (B, latent_dim) -> (B, embed_dim)
        self.unet = UNet2DModel(
            sample_size=sample_size,
            in_channels=in_channels,
            out_channels=in_channels,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            down_block_types=tuple(down_block_types),
            up_block_types=tuple(up_block_types),
            attention_head_dim=attention_head_dim,
            norm_num_groups=norm_num_groups,
            class_embed_type="identity",  # the mapped z is added to the time embedding
            resnet_time_scale_shift="scale_shift",  # ... and the sum scales and shifts each GroupNorm (AdaGN)
        )

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor | int, latents: torch.Tensor, return_dict: bool = True
    ) -> DDGANGeneratorOutput | tuple:
        """x_t `(B, C, H, W)`, the step index t (`int` or `(B,)`, 0-based: t = 0 denoises x_1 into x_0) and z
        `(B, latent_dim)` -> `DDGANGeneratorOutput(sample)`: x0' `(B, C, H, W)` in [-1, 1]."""
        c = self.config
        check_shape("DDGANGenerator", sample, (c.in_channels, c.sample_size, c.sample_size))
        check_shape("DDGANGenerator", latents, (c.latent_dim,), "latents")
        x0 = torch.tanh(self.unet(sample, timestep, class_labels=self.mapping(latents)).sample)
        return DDGANGeneratorOutput(sample=x0) if return_dict else (x0,)


class _DownBlock(nn.Module):
    """conv3x3 -> + time embedding -> LeakyReLU -> conv3x3 -> average-pool 2x, around a pooled 1x1 skip; the sum
    divided by sqrt(2) keeps the scale (the residual blocks of StyleGAN2's and DDGAN's discriminators)."""

    def __init__(self, c_in: int, c_out: int, embed_dim: int):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, padding=1), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.time = nn.Linear(embed_dim, c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(F.leaky_relu(x, 0.2)) + self.time(temb)[:, :, None, None], 0.2)
        h = F.avg_pool2d(self.conv2(h), 2)  # (B, c_out, H / 2, W / 2)
        return (h + self.skip(F.avg_pool2d(x, 2))) / math.sqrt(2)


def minibatch_stddev(h: torch.Tensor, group: int) -> torch.Tensor:
    """`(B, 1, H, W)`: for each pair, the standard deviation of every feature over its group of `group` pairs (the
    largest divisor of B up to `group`), averaged over features and positions (Karras et al. 2018, Sec. 3)."""
    b = len(h)
    g = max(d for d in range(1, min(group, b) + 1) if b % d == 0)
    std = h.float().view(g, b // g, *h.shape[1:]).var(0, unbiased=False).add(1e-8).sqrt()  # (B / g, C, H, W)
    per_group = std.mean(dim=(1, 2, 3))  # (B / g,)
    return per_group.repeat(g).view(b, 1, 1, 1).expand(b, 1, *h.shape[2:]).to(h.dtype)


class DDGANDiscriminator(ModelMixin, ConfigMixin):
    r"""
    D(x_{t-1}, x_t, t) -> one logit per pair: the two images concatenated as channels, a 3x3 input convolution,
    residual blocks that each halve the side (the time embedding added inside each), the minibatch standard
    deviation, a 3x3 convolution, a sum over positions and a linear layer.

    Args:
        in_channels (`int`, *optional*, defaults to 1): channels of one image (the discriminator sees two).
        sample_size (`int`, *optional*, defaults to 28): image side; divisible by `2 ** len(block_out_channels)`.
        block_out_channels (`tuple[int]`, *optional*, defaults to `(64, 128)`): widths of the blocks, high to low
            resolution.
        embed_dim (`int`, *optional*, defaults to 128): width of the time embedding.
        stddev_group (`int`, *optional*, defaults to 4): the minibatch standard deviation of groups of this many
            pairs is one more feature map before the output (StyleGAN's, as in the paper's discriminator): a batch of
            too-similar samples is then visible to D; 0 turns it off.
    """

    @register_to_config
    def __init__(
        self,
        *,
        in_channels: int = 1,
        sample_size: int = 28,
        block_out_channels: Sequence[int] = (64, 128),
        embed_dim: int = 128,
        stddev_group: int = 4,
    ):
        super().__init__()
        if len(block_out_channels) < 1:
            raise UserInputError(f"DDGANDiscriminator needs at least one block, got {list(block_out_channels)}")
        check_side("DDGANDiscriminator", sample_size, len(block_out_channels), "blocks")
        chans = [block_out_channels[0], *block_out_channels]
        self.embed = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.LeakyReLU(0.2), nn.Linear(embed_dim, embed_dim))
        self.conv_in = nn.Conv2d(2 * in_channels, chans[0], 3, padding=1)
        self.blocks = nn.ModuleList(_DownBlock(a, b, embed_dim) for a, b in zip(chans[:-1], chans[1:], strict=True))
        extra = 1 if stddev_group else 0
        self.conv_out = nn.Conv2d(chans[-1] + extra, chans[-1], 3, padding=1)
        self.out = nn.Linear(chans[-1], 1)

    def forward(
        self, sample: torch.Tensor, condition: torch.Tensor, timestep: torch.Tensor | int, return_dict: bool = True
    ) -> DDGANDiscriminatorOutput | tuple:
        """x_{t-1} `(B, C, H, W)` (`sample`), x_t `(B, C, H, W)` (`condition`) and t (`int` or `(B,)`) ->
        `DDGANDiscriminatorOutput(logits)` `(B,)`."""
        c = self.config
        shape = (c.in_channels, c.sample_size, c.sample_size)
        check_shape("DDGANDiscriminator", sample, shape)
        check_shape("DDGANDiscriminator", condition, shape, "conditions (x_t)")
        t = torch.as_tensor(timestep, device=sample.device).expand(len(sample))  # (B,)
        temb = self.embed(get_timestep_embedding(t, c.embed_dim, flip_sin_to_cos=True, downscale_freq_shift=0))
        h = self.conv_in(torch.cat([sample, condition], dim=1))  # (B, c0, H, W)
        for block in self.blocks:
            h = block(h, temb.to(h.dtype))
        h = F.leaky_relu(h, 0.2)
        if c.stddev_group:
            h = torch.cat([h, minibatch_stddev(h, c.stddev_group)], dim=1)  # (B, c_last + 1, h, w)
        logits = self.out(F.leaky_relu(self.conv_out(h), 0.2).sum(dim=(2, 3))).squeeze(1)  # (B,)
        return DDGANDiscriminatorOutput(logits=logits) if return_dict else (logits,)
