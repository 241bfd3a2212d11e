"""A 1-D convolutional denoising autoencoder for waveforms: a noisy stereo clip in, the clean clip out.

The default is the classic architecture: three stride-2 convolutions with Mish (2 -> 256 -> 512 -> 1024
channels, kernel 3) and three mirrored transposed convolutions back to the waveform, no activation on the output.

References:
    - Vincent et al., "Extracting and Composing Robust Features with Denoising Autoencoders", ICML 2008 (corrupt
      the input, reconstruct the clean signal).
    - Misra, "Mish: A Self Regularized Non-Monotonic Activation Function", BMVC 2020
      (https://arxiv.org/abs/1908.08681).
    - Pascual et al., "SEGAN: Speech Enhancement Generative Adversarial Network", Interspeech 2017, and Defossez
      et al., "Real Time Speech Enhancement in the Waveform Domain", Interspeech 2020: denoising in the waveform
      domain with strided 1-D convolutions.

Exact output length, for any input length T: the input is zero-padded at its end to a multiple of 2**depth, each
stride-2 convolution (odd kernel k, padding (k - 1) / 2) halves the length exactly, each transposed convolution
(the same padding, `output_padding=1`) doubles it exactly, and the output is cropped back to T. A clip shorter
than 2**depth samples works too (it is padded to one block).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..errors import UserInputError


@dataclass
class AudioDenoisingOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(B, C, T)`):
            The denoised waveform, the input's length.
        latents (`torch.Tensor` of shape `(B, block_out_channels[-1], ceil(T / 2**depth))`):
            The encoder's code.
    """

    sample: torch.Tensor
    latents: torch.Tensor = None  # a default lets accelerate rebuild the output under mixed precision


class AudioDenoisingAE(ModelMixin, ConfigMixin):
    r"""
    A denoising autoencoder over waveforms `(B, C, T)` in [-1, 1].

    Args:
        audio_channels (`int`, *optional*, defaults to 2): 2 for stereo, 1 for mono.
        block_out_channels (`tuple[int]`, *optional*, defaults to `(256, 512, 1024)`): the width after each
            stride-2 convolution of the encoder; the decoder mirrors them.
        kernel_size (`int`, *optional*, defaults to 3): an odd kernel size of every convolution.
        sampling_rate (`int`, *optional*, defaults to 16000): the rate it was trained at; the pipeline resamples
            other rates to it (and back).
        residual (`bool`, *optional*, defaults to `False`): add the input to the decoder's output, so that the
            network predicts the negative of the noise and starts as the identity (residual learning of DnCNN,
            Zhang et al. 2017, https://arxiv.org/abs/1608.03981); off in the classic architecture.
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        *,
        audio_channels: int = 2,
        block_out_channels: Sequence[int] = (256, 512, 1024),
        kernel_size: int = 3,
        sampling_rate: int = 16_000,
        residual: bool = False,
    ):
        super().__init__()
        if audio_channels not in (1, 2):
            raise UserInputError(f"audio_channels must be 1 (mono) or 2 (stereo), got {audio_channels}")
        if not block_out_channels or min(block_out_channels) < 1:
            raise UserInputError(f"block_out_channels must be one or more positive widths, got {block_out_channels}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise UserInputError(f"kernel_size must be odd (3, 5, 7, ...), got {kernel_size}")
        if sampling_rate < 1:
            raise UserInputError(f"sampling_rate must be positive, got {sampling_rate}")
        widths = [audio_channels, *block_out_channels]
        pad = (kernel_size - 1) // 2
        encoder, decoder = [], []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            encoder += [nn.Conv1d(c_in, c_out, kernel_size, stride=2, padding=pad), nn.Mish()]
        back = widths[::-1]
        for i, (c_in, c_out) in enumerate(zip(back[:-1], back[1:], strict=True)):
            decoder.append(nn.ConvTranspose1d(c_in, c_out, kernel_size, stride=2, padding=pad, output_padding=1))
            if i < len(back) - 2:  # no activation on the waveform
                decoder.append(nn.Mish())
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)

    @property
    def block_size(self) -> int:
        """Lengths are padded to a multiple of this (2**depth); chunked processing keeps its hops on this grid."""
        return 2 ** len(self.config.block_out_channels)

    def _check(self, x: torch.Tensor) -> None:
        c = self.config.audio_channels
        if x.ndim != 3 or x.shape[1] != c or x.shape[2] < 1:
            raise UserInputError(
                f"AudioDenoisingAE takes waveforms of shape (B, {c}, T) ({'stereo' if c == 2 else 'mono'}); "
                f"got {tuple(x.shape)}"
            )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, T)` -> the code `(B, block_out_channels[-1], ceil(T / block_size))`."""
        self._check(x)
        x = F.pad(x, (0, -x.shape[-1] % self.block_size))  # (B, C, T') with T' a multiple of the block size
        return self.encoder(x)

    def decode(self, latents: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """The code -> the waveform `(B, C, length)` (default: the code's length times the block size)."""
        y = self.decoder(latents)  # (B, C, T')
        return y if length is None else y[..., :length]

    def forward(self, x: torch.Tensor, return_dict: bool = True):
        """`x`: noisy waveforms `(B, C, T)` -> `AudioDenoisingOutput` with the denoised `(B, C, T)`."""
        z = self.encode(x)
        y = self.decode(z, x.shape[-1])
        if self.config.residual:
            y = x + y
        return AudioDenoisingOutput(sample=y, latents=z) if return_dict else (y, z)

    def flops(self, num_samples: int) -> int:
        """Floating-point operations (2 per multiply-add) of one forward pass over `num_samples` samples of one clip
        (padded to the block size): sum over the layers of 2 * C_in * C_out * k * (output length of a convolution,
        or input length of a transposed one)."""
        length, total, k = num_samples + (-num_samples % self.block_size), 0, self.config.kernel_size
        widths = [self.config.audio_channels, *self.config.block_out_channels]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            length //= 2
            total += 2 * c_in * c_out * k * length * 2  # the convolution, and its mirror in the decoder
        return total
