"""1-D convolutional denoisers for waveforms: a noisy stereo clip in, the clean clip out.

Two architectures, one contract (`(B, C, T)` in, `AudioDenoisingOutput` with the `(B, C, T)` estimate out):

- `AudioDenoisingAE`, the lecture's classic stack: three stride-2 convolutions with Mish (2 -> 256 -> 512 -> 1024
  channels, kernel 3) and three mirrored transposed convolutions back to the waveform, no activation on the output.
  No path from the input to the output skips the code, and its receptive field is 15 samples (1 ms at 16 kHz).
- `WaveUNet`, the waveform U-Net of DEMUCS (Defossez et al. 2020): strided convolutions (kernel 8, stride 4) each
  followed by ReLU, a 1x1 convolution and a GLU; an LSTM over the coarsest frames (unidirectional when causal); a
  mirrored decoder (1x1 convolution, GLU, transposed convolution, ReLU) that adds each encoder level's output to
  its input (the U-Net skips); the input divided by its standard deviation and the output multiplied back. The
  recipe of the `audio_denoiser` family.

References:
    - Vincent et al., "Extracting and Composing Robust Features with Denoising Autoencoders", ICML 2008 (corrupt
      the input, reconstruct the clean signal).
    - Misra, "Mish: A Self Regularized Non-Monotonic Activation Function", BMVC 2020
      (https://arxiv.org/abs/1908.08681).
    - Defossez, Synnaeve & Adi, "Real Time Speech Enhancement in the Waveform Domain", Interspeech 2020
      (https://arxiv.org/abs/2006.12847): the encoder/decoder layers, GLU, the LSTM, the normalisation.
    - Ronneberger et al., "U-Net", MICCAI 2015 (https://arxiv.org/abs/1505.04597), and Stoller et al.,
      "Wave-U-Net", ISMIR 2018 (https://arxiv.org/abs/1806.03185): skip connections between mirrored levels.
    - Dauphin et al., "Language Modeling with Gated Convolutional Networks", ICML 2017 (GLU).

Exact output length, for any input length T: the input is zero-padded at its end to a multiple of `block_size`
(2**depth for the classic stack, stride**depth for the U-Net), every strided layer then divides the length exactly
and every transposed one multiplies it back, and the output is cropped back to T. A clip shorter than one block
works too (it is padded to one).
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


def _check_config(audio_channels: int, block_out_channels: Sequence[int], sampling_rate: int) -> None:
    if audio_channels not in (1, 2):
        raise UserInputError(f"audio_channels must be 1 (mono) or 2 (stereo), got {audio_channels}")
    if not block_out_channels or min(block_out_channels) < 1:
        raise UserInputError(f"block_out_channels must be one or more positive widths, got {block_out_channels}")
    if sampling_rate < 1:
        raise UserInputError(f"sampling_rate must be positive, got {sampling_rate}")


def _check_waveforms(model: ModelMixin, x: torch.Tensor) -> None:
    c = model.config.audio_channels
    if x.ndim != 3 or x.shape[1] != c or x.shape[2] < 1:
        raise UserInputError(
            f"{type(model).__name__} takes waveforms of shape (B, {c}, T) ({'stereo' if c == 2 else 'mono'}); "
            f"got {tuple(x.shape)}"
        )


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
        _check_config(audio_channels, block_out_channels, sampling_rate)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise UserInputError(f"kernel_size must be odd (3, 5, 7, ...), got {kernel_size}")
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

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, T)` -> the code `(B, block_out_channels[-1], ceil(T / block_size))`."""
        _check_waveforms(self, x)
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


class WaveUNet(ModelMixin, ConfigMixin):
    r"""
    The waveform U-Net of DEMUCS ([Defossez et al. 2020](https://arxiv.org/abs/2006.12847)) over `(B, C, T)`.

    Level i of the encoder: `Conv1d(kernel_size, stride)` -> ReLU -> `Conv1d(1x1, 2 c_i)` -> GLU, so the length
    falls by `stride` and the width becomes `block_out_channels[i]`; the bottleneck is an LSTM over the coarsest
    frames, added to its input; level i of the decoder takes the sum of what comes up and the encoder's output at
    that level (the skip), then `Conv1d(1x1, 2 c_i)` -> GLU -> `ConvTranspose1d(kernel_size, stride)` -> ReLU (no
    ReLU on the waveform). With `normalize`, each clip is divided by the standard deviation of its channel mean
    (plus 1e-3) and the output multiplied by it, so the network sees every clip at one level.

    Causal (`causal=True`): every convolution is padded on the left only, every transposed one cropped on the
    right, and the LSTM runs forward in time, so an output sample depends on no input more than `block_size - 1`
    samples later (the latency: 255 samples, 16 ms, at stride 4, depth 4 and 16 kHz; `lookahead` measures it).

    Args:
        audio_channels (`int`, *optional*, defaults to 2): 2 for stereo, 1 for mono.
        block_out_channels (`tuple[int]`, *optional*, defaults to `(32, 64, 128, 256)`): the width of each encoder
            level (DEMUCS: 48 doubling over 5 levels).
        kernel_size (`int`, *optional*, defaults to 8): of the strided convolutions; a multiple of `stride`
            (DEMUCS: 8).
        stride (`int`, *optional*, defaults to 4): the downsampling of each level (DEMUCS: 4).
        lstm_layers (`int`, *optional*, defaults to 2): layers of the bottleneck LSTM (0: none).
        causal (`bool`, *optional*, defaults to `True`): see above; otherwise a symmetric padding and a
            bidirectional LSTM.
        normalize (`bool`, *optional*, defaults to `True`): divide by the input's standard deviation.
        sampling_rate (`int`, *optional*, defaults to 16000): the rate it was trained at; the pipeline resamples
            other rates to it (and back).
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        *,
        audio_channels: int = 2,
        block_out_channels: Sequence[int] = (32, 64, 128, 256),
        kernel_size: int = 8,
        stride: int = 4,
        lstm_layers: int = 2,
        causal: bool = True,
        normalize: bool = True,
        sampling_rate: int = 16_000,
    ):
        super().__init__()
        _check_config(audio_channels, block_out_channels, sampling_rate)
        if stride < 2 or kernel_size < stride or kernel_size % stride:
            raise UserInputError(
                f"stride must be 2 or more and kernel_size a multiple of it (DEMUCS: kernel_size=8, stride=4); "
                f"got kernel_size={kernel_size}, stride={stride}"
            )
        if lstm_layers < 0:
            raise UserInputError(f"lstm_layers must be 0 (no LSTM) or more, got {lstm_layers}")
        widths = [audio_channels, *block_out_channels]
        self.encoder, self.decoder = nn.ModuleList(), nn.ModuleList()
        for i, (c_in, c) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            self.encoder.append(
                nn.Sequential(nn.Conv1d(c_in, c, kernel_size, stride), nn.ReLU(), nn.Conv1d(c, 2 * c, 1), nn.GLU(dim=1))
            )
            up = [nn.Conv1d(c, 2 * c, 1), nn.GLU(dim=1), nn.ConvTranspose1d(c, c_in, kernel_size, stride)]
            self.decoder.insert(0, nn.Sequential(*up, *([nn.ReLU()] if i > 0 else [])))  # deepest level first
        c = widths[-1]
        self.lstm = nn.LSTM(c, c, lstm_layers, bidirectional=not causal) if lstm_layers else None
        self.lstm_out = nn.Linear(2 * c, c) if lstm_layers and not causal else None

    @property
    def block_size(self) -> int:
        """Lengths are padded to a multiple of this (stride**depth); chunked processing keeps its hops on it."""
        return self.config.stride ** len(self.config.block_out_channels)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """Pad for a strided convolution so that the length is divided by the stride exactly: `kernel_size -
        stride` samples, on the left (causal) or split between both sides."""
        p = self.config.kernel_size - self.config.stride
        left = p if self.config.causal else p // 2
        return F.pad(x, (left, p - left))

    def _crop(self, x: torch.Tensor) -> torch.Tensor:
        """Undo `_pad` after a transposed convolution, whose output is `kernel_size - stride` samples too long."""
        p = self.config.kernel_size - self.config.stride
        left = 0 if self.config.causal else p // 2
        return x[..., left : x.shape[-1] - (p - left)]

    def forward(self, x: torch.Tensor, return_dict: bool = True):
        """`x`: noisy waveforms `(B, C, T)` -> `AudioDenoisingOutput` with the denoised `(B, C, T)`."""
        _check_waveforms(self, x)
        length = x.shape[-1]
        # 1. normalise by the standard deviation of the channel mean (DEMUCS), pad to the block grid
        scale = x.mean(1, keepdim=True).std(-1, correction=0, keepdim=True) + 1e-3 if self.config.normalize else 1.0
        h = F.pad(x / scale, (0, -length % self.block_size))  # (B, C, T'), T' a multiple of the block size
        # 2. encoder: each level (B, c_in, L) -> (B, c, L / stride), its output kept for the decoder
        skips = []
        for level in self.encoder:
            h = level(self._pad(h))
            skips.append(h)
        # 3. the LSTM over the coarsest frames, (B, c, L) -> (L, B, c) -> (B, c, L), added to its input
        if self.lstm is not None:
            seq, _ = self.lstm(h.permute(2, 0, 1))
            seq = self.lstm_out(seq) if self.lstm_out is not None else seq
            h = h + seq.permute(1, 2, 0)
        latents = h
        # 4. decoder: the skip added, then (B, c, L) -> (B, c_in, L * stride)
        for level in self.decoder:
            h = self._crop(level(h + skips.pop()))
        y = h[..., :length] * scale  # (B, C, T)
        return AudioDenoisingOutput(sample=y, latents=latents) if return_dict else (y, latents)

    def flops(self, num_samples: int) -> int:
        """Floating-point operations (2 per multiply-add) of one forward pass over `num_samples` samples of one clip
        (padded to the block size): each strided and transposed convolution 2 * C_in * C_out * k per coarse frame,
        each 1x1 convolution (two a level) 2 * c * 2c per frame, each LSTM layer and direction 2 * 4c * (c_in + c)
        per frame."""
        k, s = self.config.kernel_size, self.config.stride
        length, total = num_samples + (-num_samples % self.block_size), 0
        widths = [self.config.audio_channels, *self.config.block_out_channels]
        for c_in, c in zip(widths[:-1], widths[1:], strict=True):
            length //= s
            total += (2 * 2 * c_in * c * k + 2 * 4 * c * c) * length  # the level, and its mirror in the decoder
        c, layers = widths[-1], self.config.lstm_layers
        directions = 1 if self.config.causal else 2
        for layer in range(layers):
            c_in = c if layer == 0 else directions * c
            total += directions * 2 * 4 * c * (c_in + c) * length
        return total


MASKS = ("magnitude", "complex")


class SpectralMaskNet(ModelMixin, ConfigMixin):
    r"""
    A real-valued mask over the noisy short-time spectrum, predicted frame by frame by a GRU (the design of RNNoise,
    Valin 2018, https://arxiv.org/abs/1709.08243, on every STFT bin instead of its 22 bands): log-magnitudes of both
    channels `(B, C * F, N)` -> a 1x1 convolution and ReLU -> a unidirectional GRU (causal over frames) -> a 1x1
    convolution and a sigmoid -> a gain in [0, 1] per channel, bin and frame on the noisy STFT (its phase kept) ->
    the inverse STFT. The latency is one frame (`n_fft` samples).

    With `mask="complex"` the net also reads the compressed real and imaginary parts of the spectrum
    (`X / |X| * |X|^0.3`) and predicts a complex ratio mask m, bounded as DCCRN's "E" mask (Hu et al. 2020,
    https://arxiv.org/abs/2008.00264): gain `tanh(|m|)` and rotation `m / |m|`, so it can correct the noisy phase as
    well as the magnitude (Williamson et al. 2016's complex ideal ratio mask).

    Args:
        audio_channels (`int`, *optional*, defaults to 2): 2 for stereo, 1 for mono.
        n_fft (`int`, *optional*, defaults to 512): the frame (Hann window) length; 32 ms at 16 kHz.
        hop_length (`int`, *optional*, defaults to 128): frames every 8 ms (75% overlap).
        hidden_size (`int`, *optional*, defaults to 256): the width of the projection and of the GRU.
        gru_layers (`int`, *optional*, defaults to 2): layers of the GRU.
        mask (`str`, *optional*, defaults to `"magnitude"`): `"magnitude"`, a gain in [0, 1] on the noisy STFT, or
            `"complex"`, a bounded complex ratio mask.
        sampling_rate (`int`, *optional*, defaults to 16000): the rate it was trained at.
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        *,
        audio_channels: int = 2,
        n_fft: int = 512,
        hop_length: int = 128,
        hidden_size: int = 256,
        gru_layers: int = 2,
        mask: str = "magnitude",
        sampling_rate: int = 16_000,
    ):
        super().__init__()
        _check_config(audio_channels, (hidden_size,), sampling_rate)
        if n_fft < 16 or not 1 <= hop_length <= n_fft or gru_layers < 1:
            raise UserInputError(
                f"n_fft must be 16 or more, hop_length in [1, n_fft] and gru_layers 1 or more; got {n_fft}, "
                f"{hop_length} and {gru_layers}"
            )
        if mask not in MASKS:
            raise UserInputError(f"the mask is one of {MASKS}, got {mask!r}")
        bins = audio_channels * (n_fft // 2 + 1)
        parts = 3 if mask == "complex" else 1  # log-magnitude (and the compressed real and imaginary parts)
        self.inp = nn.Conv1d(parts * bins, hidden_size, 1)
        self.gru = nn.GRU(hidden_size, hidden_size, gru_layers, batch_first=True)
        self.out = nn.Conv1d(hidden_size, (2 if mask == "complex" else 1) * bins, 1)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    @property
    def block_size(self) -> int:
        """Chunked processing keeps its hops on the frame grid."""
        return self.config.hop_length

    def forward(self, x: torch.Tensor, return_dict: bool = True):
        """`x`: noisy waveforms `(B, C, T)` -> `AudioDenoisingOutput` with the denoised `(B, C, T)`."""
        _check_waveforms(self, x)
        b, c, t = x.shape
        n_fft, hop = self.config.n_fft, self.config.hop_length
        with torch.autocast(x.device.type, enabled=False):  # the FFTs in float32
            wave = x.float().flatten(0, 1)  # (B * C, T)
            spec = torch.stft(wave, n_fft, hop, window=self.window.float(), return_complex=True)  # (B * C, F, N)
        magnitude = spec.abs().clamp_min(1e-5)  # (B * C, F, N)
        features = magnitude.log()
        if self.config.mask == "complex":
            compressed = torch.view_as_real(spec * magnitude.pow(-0.7))  # X / |X| * |X|^0.3: (B * C, F, N, 2)
            features = torch.cat([features, compressed[..., 0], compressed[..., 1]], 1)  # (B * C, 3F, N)
        features = features.reshape(b, -1, spec.shape[-1]).to(self.inp.weight.dtype)  # (B, C * parts * F, N)
        h = F.relu(self.inp(features))  # (B, H, N), the network in its own dtype (bf16 weights too)
        h, _ = self.gru(h.transpose(1, 2))  # (B, N, H)
        m = self.out(h.transpose(1, 2)).float()  # (B, C * F, N), or (B, C * 2F, N) for the complex mask
        with torch.autocast(x.device.type, enabled=False):
            if self.config.mask == "complex":
                real, imag = m.reshape(b * c, 2, *spec.shape[1:]).unbind(1)  # (B * C, F, N) each
                size = torch.sqrt(real**2 + imag**2 + 1e-12)
                gain = torch.tanh(size) / size  # |mask| = tanh(|m|) in [0, 1), its angle m's
                mask = torch.complex(real * gain, imag * gain)
            else:
                mask = torch.sigmoid(m).reshape(spec.shape)
            masked = spec * mask
            y = torch.istft(masked, n_fft, hop, window=self.window.float(), length=t).reshape(b, c, t)
        return AudioDenoisingOutput(sample=y.to(x.dtype), latents=h) if return_dict else (y, h)

    def flops(self, num_samples: int) -> int:
        """Floating-point operations of one forward pass over `num_samples` samples of one clip: per frame, the two
        1x1 convolutions (2 * bins * H each, times the parts in and out) and the GRU (2 * 3H * 2H per layer); the
        FFTs are left out."""
        c = self.config
        frames = num_samples // c.hop_length + 1
        bins, h = c.audio_channels * (c.n_fft // 2 + 1), c.hidden_size
        parts_in, parts_out = (3, 2) if c.mask == "complex" else (1, 1)
        return frames * (2 * (parts_in + parts_out) * bins * h + c.gru_layers * 2 * 3 * h * 2 * h)
