"""Generative adversarial networks of the DCGAN family: a transposed-conv generator and a strided-conv discriminator.

References:
    - Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, arXiv:1406.2661 (the two-player game).
    - Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional Generative
      Adversarial Networks" (DCGAN), ICLR 2016, arXiv:1511.06434 (the architecture guidelines of Sec. 3:
      strided convolutions instead of pooling, BatchNorm, ReLU in G with Tanh output, LeakyReLU(0.2) in D,
      N(0, 0.02) initialization).
    - Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018, arXiv:1802.05957
      (optional Lipschitz control of the discriminator).

Images live in [-1, 1] on both sides: the generator ends in Tanh, the discriminator takes images in
[-1, 1] and returns one logit per image. Both list `block_out_channels` from high to low resolution
(as diffusers' UNets do), so the generator runs the list backwards and one `--model_config
block_out_channels=...` shapes a matched pair. Each block halves (D) or doubles (G) the side, so
`sample_size` must be divisible by `2 ** len(block_out_channels)`: with two blocks 8 (digits),
28 (Fashion-MNIST) and 32 (CIFAR) all work.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ..errors import UserInputError
from .blocks import check_shape, check_side, conv_down, conv_up

INIT_STD = 0.02  # DCGAN Sec. 4: all weights from N(0, 0.02); BatchNorm scales from N(1, 0.02)


@dataclass
class GeneratorOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(B, C, H, W)`): generated images in [-1, 1].
    """

    sample: torch.Tensor


@dataclass
class DiscriminatorOutput(BaseOutput):
    """
    Args:
        logits (`torch.Tensor` of shape `(B,)`): log-odds that each image is real; `sigmoid(logits)` is D(x).
    """

    logits: torch.Tensor


def _check_blocks(model: str, sample_size: int, block_out_channels: Sequence[int]) -> int:
    """The side of the lowest-resolution feature map; a `UserInputError` naming the resolutions that work."""
    if len(block_out_channels) < 1:
        raise UserInputError(f"{model} needs at least one entry in block_out_channels, got {list(block_out_channels)}")
    return check_side(model, sample_size, len(block_out_channels), "blocks")


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN initialization in place: conv / linear weights N(0, 0.02), BatchNorm scale N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, INIT_STD)
            nn.init.zeros_(m.bias)


class Generator(ModelMixin, ConfigMixin):
    r"""
    DCGAN generator: a latent vector z ~ N(0, I) -> a Linear projection reshaped to the lowest-resolution
    feature map (the "project and reshape" first layer of DCGAN Fig. 1) -> stride-2 ConvTranspose2d blocks
    with BatchNorm + ReLU, each doubling the side -> Tanh images in [-1, 1].

    Args:
        out_channels (`int`, *optional*, defaults to 1): image channels.
        sample_size (`int`, *optional*, defaults to 28): image height and width; divisible by
            `2 ** len(block_out_channels)`.
        latent_dim (`int`, *optional*, defaults to 64): size of z. DCGAN used 100 for 64x64 images; 64 is
            plenty for 8x8 to 32x32 images.
        block_out_channels (`tuple[int]`, *optional*, defaults to `(64, 128)`): feature channels from high to
            low resolution; the generator starts at the last and upsamples through the rest.
    """

    @register_to_config
    def __init__(
        self,
        *,
        out_channels: int = 1,
        sample_size: int = 28,
        latent_dim: int = 64,
        block_out_channels: Sequence[int] = (64, 128),
    ):
        super().__init__()
        if latent_dim < 1:
            raise UserInputError(f"latent_dim must be a positive integer, got {latent_dim}")
        s = _check_blocks("Generator", sample_size, block_out_channels)
        chans = list(block_out_channels)[::-1]  # low -> high resolution, e.g. [128, 64]
        self.project = nn.Sequential(
            nn.Linear(latent_dim, chans[0] * s * s, bias=False),  # (B, c0 * s * s); BatchNorm supplies the bias
            nn.Unflatten(1, (chans[0], s, s)),  # (B, c0, s, s)
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(),
        )
        # (B, c0, s, s) -> (B, C, H, W), each block doubling the side
        self.blocks = nn.Sequential(*conv_up([*chans, out_channels], nn.ReLU, norm=True, bias=False), nn.Tanh())
        dcgan_init_(self)

    def forward(self, latents: torch.Tensor, return_dict: bool = True) -> GeneratorOutput | tuple:
        """Latents `(B, latent_dim)` -> `GeneratorOutput(sample)` with images `(B, C, H, W)` in [-1, 1]."""
        check_shape("Generator", latents, (self.config.latent_dim,), "latents")
        sample = self.blocks(self.project(latents))
        return GeneratorOutput(sample=sample) if return_dict else (sample,)


class Discriminator(ModelMixin, ConfigMixin):
    r"""
    DCGAN discriminator: stride-2 Conv2d blocks with LeakyReLU(0.2), each halving the side (BatchNorm on all but
    the first, DCGAN Sec. 3), then a Linear layer to one logit per image. With `spectral_norm=True` every conv
    and linear weight is divided by its largest singular value (Miyato et al. 2018, eq. 8), and BatchNorm is
    left out, as in their SN-GAN discriminators.

    Args:
        in_channels (`int`, *optional*, defaults to 1): image channels.
        sample_size (`int`, *optional*, defaults to 28): image height and width; divisible by
            `2 ** len(block_out_channels)`.
        block_out_channels (`tuple[int]`, *optional*, defaults to `(64, 128)`): channels after each downsampling
            block, from high to low resolution.
        spectral_norm (`bool`, *optional*, defaults to `False`): spectral normalization of the weights
            ([arXiv:1802.05957](https://arxiv.org/abs/1802.05957)) instead of BatchNorm.
    """

    @register_to_config
    def __init__(
        self,
        *,
        in_channels: int = 1,
        sample_size: int = 28,
        block_out_channels: Sequence[int] = (64, 128),
        spectral_norm: bool = False,
    ):
        super().__init__()
        s = _check_blocks("Discriminator", sample_size, block_out_channels)
        chans = [in_channels, *block_out_channels]
        leaky = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        layers = conv_down(chans, leaky, norm=not spectral_norm, first_norm=False, bias=False)
        self.blocks = nn.Sequential(*layers)  # (B, C, H, W) -> (B, c_last, s, s), each block halving the side
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * s * s, 1))  # (B, 1)
        dcgan_init_(self)
        if spectral_norm:
            for m in [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]:
                _spectral_norm(m)

    def forward(self, images: torch.Tensor, return_dict: bool = True) -> DiscriminatorOutput | tuple:
        """Images `(B, C, H, W)` in [-1, 1] -> `DiscriminatorOutput(logits)` of shape `(B,)`."""
        c, s = self.config.in_channels, self.config.sample_size
        check_shape("Discriminator", images, (c, s, s), "images in [-1, 1]")
        logits = self.head(self.blocks(images)).squeeze(1)
        return DiscriminatorOutput(logits=logits) if return_dict else (logits,)
