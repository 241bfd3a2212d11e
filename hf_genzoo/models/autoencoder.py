"""Autoencoders: the classic fully connected CIFAR-100 autoencoder and a convolutional one.

Both map images in [0, 1] to a code and back, and both train as denoising autoencoders when the
training objective corrupts the input and keeps the clean image as the target.

References:
    - Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural Networks",
      Science 2006 (deep autoencoders beat PCA at equal code size).
    - Vincent et al., "Extracting and Composing Robust Features with Denoising Autoencoders",
      ICML 2008 (corrupt the input, reconstruct the clean image).
    - Clevert et al., "Fast and Accurate Deep Network Learning by Exponential Linear Units (ELUs)",
      ICLR 2016 (the ELU activations of the classic CIFAR-100 autoencoder).

The reconstruction (``sample``) lives in one of two spaces, chosen by ``reconstruction``:
``"normalized"`` (the classic: compare with the normalized input under MSE) or ``"logits"``
(pixel logits, for binary cross-entropy against images in [0, 1]). ``to_pixels`` maps either back
to [0, 1].
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from diffusers.utils.accelerate_utils import apply_forward_hook
from torch import nn

from ..errors import UserInputError
from .blocks import check_shape, check_side, conv_down, conv_up

RECONSTRUCTION_SPACES = ("normalized", "logits")


@dataclass
class AutoencoderOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(B, C, H, W)`):
            The reconstruction, in the model's reconstruction space (see `to_pixels`).
        latents (`torch.Tensor`):
            The code: `(B, latent_dim)` for a vector code, `(B, latent_channels, h, w)` for a map.
        normed (`torch.Tensor` of shape `(B, C, H, W)`):
            The normalized input, the target of the classic MSE objective.
    """

    sample: torch.Tensor
    latents: torch.Tensor = None  # defaults let accelerate rebuild the output under mixed precision
    normed: torch.Tensor = None


class Normalize(nn.Module):
    """`(x - mean) / std` per channel, with the statistics stored as buffers (saved with the model)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    # One new tensor each, the second operation in place: on the CPU a fresh batch-sized tensor costs more than the
    # arithmetic (page faults), and neither backward needs the intermediate.
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean).div_(self.std)

    def inverse(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """`x * std + mean`; with `inplace`, in `x`'s own memory."""
        return (x.mul_(self.std) if inplace else x * self.std).add_(self.mean)


def _checked_options(mean, std, in_channels, reconstruction) -> tuple[list[float], list[float]]:
    """The checks both autoencoders share. Returns mean and std: defaults (0.5, 0.25) per channel,
    else one value per channel is required."""
    if reconstruction not in RECONSTRUCTION_SPACES:
        raise UserInputError(f"reconstruction must be one of {RECONSTRUCTION_SPACES}, got {reconstruction!r}")
    mean = [0.5] * in_channels if mean is None else list(mean)
    std = [0.25] * in_channels if std is None else list(std)
    if len(mean) != in_channels or len(std) != in_channels:
        raise UserInputError(f"mean and std need one value per channel ({in_channels}), got {mean} and {std}")
    return mean, std


class _ImageAutoencoder(ModelMixin, ConfigMixin):
    """What both autoencoders share: normalize -> encode -> decode, and the way back to pixels."""

    normalize: Normalize

    def _check_input(self, x: torch.Tensor) -> None:
        c, s = self.config.in_channels, self.config.sample_size
        check_shape(type(self).__name__, x, (c, s, s), "images in [0, 1]")

    @apply_forward_hook  # moves the model to the device first under `enable_model_cpu_offload`, as `forward` does
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], `(B, C, H, W)` -> codes."""
        self._check_input(x)
        return self.encoder(self.normalize(x))

    @apply_forward_hook
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Codes -> reconstructions in the reconstruction space, `(B, C, H, W)`."""
        return self.decoder(latents)

    def to_pixels(self, sample: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """Reconstruction space -> images in [0, 1]; with `inplace`, in `sample`'s own memory (a pipeline's output
        that nothing else holds: no new batch-sized tensor)."""
        if self.config.reconstruction == "logits":
            return sample.sigmoid_() if inplace else torch.sigmoid(sample)
        return self.normalize.inverse(sample, inplace).clamp_(0, 1)

    def forward(self, x: torch.Tensor, return_dict: bool = True) -> AutoencoderOutput | tuple:
        """Images in [0, 1] `(B, C, H, W)` -> reconstruction, code and normalized input."""
        self._check_input(x)
        normed = self.normalize(x)  # (B, C, H, W)
        latents = self.encoder(normed)
        sample = self.decoder(latents)
        return (
            AutoencoderOutput(sample=sample, latents=latents, normed=normed)
            if return_dict
            else (sample, latents, normed)
        )


class MLPAutoencoder(_ImageAutoencoder):
    r"""
    The classic CIFAR-100 autoencoder: `Normalize`, then a fully connected ELU encoder ending in
    Tanh and a mirrored decoder. With `in_channels=3, sample_size=32, hidden_dim=512` the layers are
    3072-512-256-64-256-512-3072.

    Args:
        in_channels (`int`, *optional*, defaults to 3): image channels.
        sample_size (`int`, *optional*, defaults to 32): image height and width.
        hidden_dim (`int`, *optional*, defaults to 512): width h of the first layer; the second is h/2.
        latent_dim (`int`, *optional*): code size; defaults to h/8 as in the classic model.
        mean (`Sequence[float]`, *optional*): per-channel mean of the training images in [0, 1]
            (defaults to 0.5; the training objective passes the dataset's own).
        std (`Sequence[float]`, *optional*): per-channel standard deviation (defaults to 0.25).
        reconstruction (`str`, *optional*, defaults to `"normalized"`): `"normalized"` for MSE against
            the normalized input, `"logits"` for binary cross-entropy against the image in [0, 1].
    """

    @register_to_config
    def __init__(
        self,
        *,
        in_channels: int = 3,
        sample_size: int = 32,
        hidden_dim: int = 512,
        latent_dim: int | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        reconstruction: str = "normalized",
    ):
        super().__init__()
        mean, std = _checked_options(mean, std, in_channels, reconstruction)
        if hidden_dim < 8:
            raise UserInputError(
                f"hidden_dim must be at least 8 (the classic code is hidden_dim / 8), got {hidden_dim}"
            )
        d = in_channels * sample_size * sample_size
        h = hidden_dim
        z = latent_dim if latent_dim is not None else h // 8
        self.normalize = Normalize(mean, std)
        self.encoder = nn.Sequential(
            nn.Flatten(),  # (B, C*H*W)
            nn.Linear(d, h), nn.ELU(),
            nn.Linear(h, h // 2), nn.ELU(),
            nn.Linear(h // 2, z), nn.Tanh(),  # (B, z)
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(z, h // 2), nn.ELU(),
            nn.Linear(h // 2, h), nn.ELU(),
            nn.Linear(h, d),
            nn.Unflatten(1, (in_channels, sample_size, sample_size)),  # (B, C, H, W)
        )  # fmt: skip


class ConvAutoencoder(_ImageAutoencoder):
    r"""
    Convolutional autoencoder: stride-2 Conv2d blocks down to a code, ConvTranspose2d blocks back up.
    Each block halves (encoder) or doubles (decoder) the resolution, so `sample_size` must be
    divisible by `2 ** len(block_out_channels)`.

    Args:
        in_channels (`int`, *optional*, defaults to 1): image channels.
        sample_size (`int`, *optional*, defaults to 28): image height and width.
        block_out_channels (`tuple[int]`, *optional*, defaults to `(32, 64)`): channels after each
            downsampling block.
        latent_dim (`int`, *optional*, defaults to 64): size of the code vector (`latent="vector"`).
        hidden_dim (`int`, *optional*, defaults to 256): width of a fully connected ELU layer between the
            last feature map and the code vector (and back), as in the MLP's encoder; `None` maps the
            feature map to the code with one Linear layer.
        latent (`str`, *optional*, defaults to `"vector"`): `"vector"` flattens the last feature map
            through a Linear layer to `latent_dim`; `"map"` keeps a spatial code of `latent_channels`.
        latent_channels (`int`, *optional*, defaults to 4): channels of the code map (`latent="map"`).
        mean, std, reconstruction: as in [`MLPAutoencoder`].
    """

    @register_to_config
    def __init__(
        self,
        *,
        in_channels: int = 1,
        sample_size: int = 28,
        block_out_channels: Sequence[int] = (32, 64),
        latent_dim: int = 64,
        hidden_dim: int | None = 256,
        latent: str = "vector",
        latent_channels: int = 4,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        reconstruction: str = "normalized",
    ):
        super().__init__()
        mean, std = _checked_options(mean, std, in_channels, reconstruction)
        if latent not in ("vector", "map"):
            raise UserInputError(f"latent must be 'vector' or 'map', got {latent!r}")
        s = check_side("ConvAutoencoder", sample_size, len(block_out_channels))  # side of the last feature map
        self.normalize = Normalize(mean, std)
        chans = [in_channels, *block_out_channels]
        down = conv_down(chans, nn.ELU, norm=True)  # (B, C, H, W) -> (B, c_last, s, s)
        up = conv_up(chans[::-1], nn.ELU, norm=True)  # (B, c_last, s, s) -> (B, C, H, W)
        c_last = block_out_channels[-1]
        if latent == "vector":
            # (B, c_last, s, s) -> (B, hidden_dim) -> (B, latent_dim) -> (B, hidden_dim) -> (B, c_last, s, s)
            d, h = c_last * s * s, hidden_dim
            to_code = [nn.Linear(d, h), nn.ELU(), nn.Linear(h, latent_dim)] if h else [nn.Linear(d, latent_dim)]
            from_code = [nn.Linear(latent_dim, h), nn.ELU(), nn.Linear(h, d)] if h else [nn.Linear(latent_dim, d)]
            to_code, from_code = [nn.Flatten(), *to_code], [*from_code, nn.Unflatten(1, (c_last, s, s)), nn.ELU()]
        else:
            # (B, c_last, s, s) -> (B, latent_channels, s, s) -> (B, c_last, s, s)
            to_code = [nn.Conv2d(c_last, latent_channels, 1)]
            from_code = [nn.Conv2d(latent_channels, c_last, 1), nn.ELU()]
        self.encoder = nn.Sequential(*down, *to_code)
        self.decoder = nn.Sequential(*from_code, *up)
