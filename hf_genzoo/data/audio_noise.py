"""The noise of the audio denoising autoencoder: a batch of clean waveforms mixed with noise at drawn SNRs, on the
batch's device (`NoiseMix`, parsed from `KINDS:LOW:HIGH`, e.g. `"all:-5:20"`).

Each example gets one kind of noise, drawn uniformly from the mix's kinds, scaled to an SNR drawn uniformly in
[low, high] dB:

- `white`: Gaussian, independent per channel.
- `pink`, `brown`: white noise shaped in the rfft domain to a power spectrum of 1/f and 1/f^2 (an amplitude of
  f^(-1/2), f^-1), high-passed at 20 Hz (below it the 1/f^2 spectrum would put half the power into an inaudible
  drift); independent per channel. Colored noise as in the noise-robust speech literature (Varga & Steeneken,
  "NOISEX-92", Speech Communication 12(3), 1993).
- `hum`: mains hum, a 50 or 60 Hz fundamental (drawn per example) and its harmonics up to the 8th, of amplitudes
  u_k / k (u_k drawn in [0.5, 1]) and random phases; the same in both channels.
- `babble`: 3-6 other examples of the same batch (all others when fewer), each circularly shifted in time by a
  random amount, summed: speech-shaped interference that keeps their stereo (a batch of one uses the example
  itself, time-reversed and shifted). Babble from a batch of clean speech, as in the babble of NOISEX-92 and of
  Defossez et al., "Real Time Speech Enhancement in the Waveform Domain", Interspeech 2020.

`reverberate` puts a share of a batch in synthetic rooms before the noise is mixed (a data augmentation: the target
is the reverberant clean clip, so the model learns to keep a room, not to remove it): each chosen example is
convolved with an impulse response of a direct path and a tail of exponentially decaying Gaussian noise
(Polack's statistical model of late reverberation, as in Habets' RIR generators and the room augmentation of
DEMUCS), independent per channel, at a reverberation time and a direct-to-reverberant ratio drawn per example.
"""

import math
from dataclasses import dataclass
from typing import NoReturn

import torch

from ..errors import UserInputError

KINDS = ("white", "pink", "brown", "hum", "babble")
DEFAULT_NOISE = "all:-5:20"
SPEC_FORMAT = "KINDS:LOW:HIGH (SNRs in dB), KINDS being 'all' or kinds joined by '+', e.g. 'white+hum:0:20'"
HIGH_PASS_HZ = 20.0  # the corner below which pink and brown noise carry no power
HUM_HARMONICS = 8
BABBLE_TALKERS = (3, 6)
ROOM_RT60 = (0.15, 0.8)  # seconds for the tail to fall by 60 dB: a small office to a large classroom
ROOM_DRR_DB = (0.0, 12.0)  # direct-to-reverberant energy ratio: a talker at a few metres to one at arm's length
POWER_FLOOR = 1e-8  # -80 dB re full scale: the power a silent example (or silent noise) is scaled as if it had


@dataclass(frozen=True)
class NoiseMix:
    r"""
    Noise for denoising training: each example of a batch mixed with one kind of noise at a drawn SNR.

    Args:
        kinds (`tuple[str, ...]`): the kinds to draw from, uniformly, some of `KINDS`.
        snr_low (`float`): the lowest SNR in dB.
        snr_high (`float`): the highest SNR in dB (equal to `snr_low` for a fixed SNR).
    """

    kinds: tuple[str, ...]
    snr_low: float
    snr_high: float

    def __post_init__(self):
        kinds = tuple(self.kinds)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            _bad(f"unknown noise kind(s) {unknown or kinds}")
        if len(set(kinds)) < len(kinds):
            _bad(f"the noise kinds {'+'.join(kinds)} name a kind twice")
        if not (math.isfinite(self.snr_low) and math.isfinite(self.snr_high) and self.snr_low <= self.snr_high):
            _bad(f"noise SNRs {self.snr_low:g}, {self.snr_high:g} must be finite, LOW <= HIGH")
        object.__setattr__(self, "kinds", kinds)

    def __call__(
        self, clean: torch.Tensor, sampling_rate: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""
        Mix a clean batch with noise.

        Args:
            clean (`torch.Tensor` of shape `(B, C, T)`): waveforms in [-1, 1], any float dtype and device.
            sampling_rate (`int`): their rate in Hz (the frequencies of pink, brown and hum noise depend on it).
            generator (`torch.Generator`, *optional*): the source of every draw, on `clean`'s device; the same seed
                gives the same noisy batch.

        Returns:
            `tuple[torch.Tensor, torch.Tensor]`: the noisy batch `(B, C, T)` in `clean`'s dtype, and the SNR of each
            example `(B,)` in dB. The SNR is exact, 10 log10(P_clean / P_noise) over all channels and samples of the
            example, except where the clean example or its noise has a power under `POWER_FLOOR` (silence), which
            is scaled as if it had that power. The sum is not clipped, so that the SNR stays what was added: at low
            SNRs a few samples fall beyond [-1, 1]. Half-precision batches are mixed in float32 (the FFT needs it).
        """
        if clean.dim() != 3:
            raise UserInputError(f"NoiseMix takes a batch of waveforms (B, C, T), got shape {tuple(clean.shape)}")
        x = clean.float() if clean.dtype in (torch.float16, torch.bfloat16) else clean  # (B, C, T)
        b, c, t = x.shape
        opts = {"device": x.device, "dtype": x.dtype}
        # 1. a kind and an SNR per example
        kind = torch.randint(len(self.kinds), (b,), device=x.device, generator=generator)  # (B,)
        snr_db = self.snr_low + (self.snr_high - self.snr_low) * torch.rand(b, generator=generator, **opts)  # (B,)
        # 2. the noise of each kind for its examples
        noise = torch.zeros_like(x)  # (B, C, T)
        for k, name in enumerate(self.kinds):
            idx = torch.nonzero(kind == k).flatten()  # (n,)
            if len(idx) == 0:
                continue
            if name == "white":
                noise[idx] = torch.randn((len(idx), c, t), generator=generator, **opts)
            elif name in ("pink", "brown"):
                noise[idx] = _colored((len(idx), c, t), 1.0 if name == "pink" else 2.0, sampling_rate, generator, opts)
            elif name == "hum":
                noise[idx] = _hum(len(idx), t, sampling_rate, generator, opts).expand(-1, c, -1)
            else:
                noise[idx] = _babble(x, idx, generator)
        # 3. scale the noise to the SNR: 10 log10(P_clean / (s^2 P_noise)) = snr
        p_clean = x.pow(2).mean(dim=(1, 2)).clamp_min(POWER_FLOOR)  # (B,)
        p_noise = noise.pow(2).mean(dim=(1, 2)).clamp_min(POWER_FLOOR)  # (B,)
        scale = torch.sqrt(p_clean / (p_noise * 10 ** (snr_db / 10)))  # (B,)
        noisy = x + scale[:, None, None] * noise  # (B, C, T)
        return noisy.to(clean.dtype), snr_db

    def __str__(self) -> str:
        kinds = "all" if self.kinds == KINDS else "+".join(self.kinds)
        return f"{kinds}:{self.snr_low:g}:{self.snr_high:g}"


def _colored(shape: tuple, exponent: float, sampling_rate: int, generator, opts: dict) -> torch.Tensor:
    """Gaussian noise `shape` = `(n, C, T)` with a power spectrum of 1/f^exponent above HIGH_PASS_HZ, zero below."""
    spectrum = torch.fft.rfft(torch.randn(shape, generator=generator, **opts))  # (n, C, T // 2 + 1)
    f = torch.fft.rfftfreq(shape[-1], 1 / sampling_rate, **opts)  # (T // 2 + 1,)
    gain = torch.where(f >= HIGH_PASS_HZ, f.clamp_min(HIGH_PASS_HZ) ** (-exponent / 2), 0.0)  # amplitude
    return torch.fft.irfft(spectrum * gain, n=shape[-1])  # (n, C, T)


def _hum(n: int, t: int, sampling_rate: int, generator, opts: dict) -> torch.Tensor:
    """Mains hum `(n, 1, T)`: a 50 or 60 Hz fundamental each, harmonics of amplitude u_k / k, random phases."""
    device = opts["device"]
    f0 = torch.where(torch.rand(n, device=device, generator=generator) < 0.5, 50, 60)  # (n,) int64
    k = torch.arange(1, HUM_HARMONICS + 1, device=device)  # (H,)
    freq = f0[:, None] * k  # (n, H) integer Hz
    amp = (0.5 + 0.5 * torch.rand((n, HUM_HARMONICS), generator=generator, **opts)) / k  # (n, H)
    amp = amp * (2 * freq < sampling_rate)  # none at or above Nyquist
    phase = 2 * math.pi * torch.rand((n, HUM_HARMONICS, 1), generator=generator, **opts)  # (n, H, 1)
    # the cycles done by sample j, (f j mod rate) / rate, in integers: exact phases however long the clip
    cycles = (freq[:, :, None] * torch.arange(t, device=device)) % sampling_rate  # (n, H, T)
    waves = torch.sin(2 * math.pi * cycles.to(opts["dtype"]) / sampling_rate + phase)  # (n, H, T)
    return torch.einsum("nh,nht->nt", amp, waves)[:, None]  # (n, 1, T)


def _babble(x: torch.Tensor, idx: torch.Tensor, generator) -> torch.Tensor:
    """For each example `idx` of the batch `x` `(B, C, T)`: a sum of 3-6 other examples, each circularly shifted by
    a random number of samples, `(n, C, T)`; with a batch of one, the example itself, time-reversed and shifted."""
    b, c, t = x.shape
    n, device = len(idx), x.device
    if b == 1:
        source, others, talkers = x.flip(-1), torch.zeros((n, 1), dtype=torch.long, device=device), 1
    else:
        # 1. the other examples in a random order: a random score each, the example itself last
        scores = torch.rand((n, b), device=device, generator=generator)  # (n, B)
        scores[torch.arange(n, device=device), idx] = 2.0
        talkers = min(BABBLE_TALKERS[1], b - 1)
        source, others = x, scores.argsort(dim=1)[:, :talkers]  # (n, S) batch indices
    low = min(BABBLE_TALKERS[0], talkers)
    count = torch.randint(low, talkers + 1, (n, 1), device=device, generator=generator)  # (n, 1) talkers used
    used = torch.arange(talkers, device=device) < count  # (n, S)
    # 2. circular shifts: sample j of a talker shifted by s is its sample (j - s) mod T
    shift = torch.randint(t, (n, talkers, 1), device=device, generator=generator)  # (n, S, 1)
    time = (torch.arange(t, device=device) - shift) % t  # (n, S, T)
    talks = source[others[:, :, None, None], torch.arange(c, device=device)[:, None], time[:, :, None, :]]
    return (talks * used[:, :, None, None].to(x.dtype)).sum(1)  # (n, S, C, T) -> (n, C, T)


def _bad(what: str) -> NoReturn:
    raise UserInputError(f"{what}: use {SPEC_FORMAT}; the kinds are {', '.join(KINDS)}")


def parse_noise_mix(spec: str) -> NoiseMix:
    """`"white+pink:-5:20"` -> NoiseMix(("white", "pink"), -5.0, 20.0); `"all:..."` takes every kind of `KINDS`."""
    parts = spec.split(":") if isinstance(spec, str) else []
    try:
        low, high = float(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        low = high = math.nan
    if len(parts) != 3 or math.isnan(low) or math.isnan(high):
        _bad(f"noise {spec!r} is not understood")
    kinds = KINDS if parts[0] == "all" else tuple(parts[0].split("+"))
    return NoiseMix(kinds, low, high)


def reverberate(
    clean: torch.Tensor, sampling_rate: int, share: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""
    Put a share of a batch in synthetic rooms.

    Each chosen example x `(C, T)` becomes `(h_c * x_c)[:T]` per channel c, with `h_c = delta + g n_c(t)
    exp(-ln(1000) t / RT60)`, n_c white Gaussian noise starting one sample after the direct path, RT60 drawn in
    `ROOM_RT60`, and g setting the direct-to-reverberant energy ratio drawn in `ROOM_DRR_DB`; the result is scaled
    back to the example's power. The others are returned as they are.

    Args:
        clean (`torch.Tensor` of shape `(B, C, T)`): waveforms, float32, on any device.
        sampling_rate (`int`): their rate in Hz.
        share (`float`): the probability that an example is reverberated, in [0, 1].
        generator (`torch.Generator`, *optional*): the source of every draw, on `clean`'s device.

    Returns:
        `torch.Tensor` of shape `(B, C, T)`.
    """
    if not 0 <= share <= 1:
        raise UserInputError(f"the reverberated share must be in [0, 1], got {share}")
    b, c, t = clean.shape
    opts = {"device": clean.device, "dtype": clean.dtype}
    # 1. which examples, and each one's room
    idx = torch.nonzero(torch.rand(b, generator=generator, **opts) < share).flatten()  # (n,)
    if len(idx) == 0:
        return clean
    n = len(idx)
    rt60 = ROOM_RT60[0] + (ROOM_RT60[1] - ROOM_RT60[0]) * torch.rand((n, 1, 1), generator=generator, **opts)
    drr_db = ROOM_DRR_DB[0] + (ROOM_DRR_DB[1] - ROOM_DRR_DB[0]) * torch.rand((n, 1, 1), generator=generator, **opts)
    # 2. the impulse responses (n, C, L): a unit direct path, then the decaying noise tail at the drawn DRR
    length = round(ROOM_RT60[1] * sampling_rate)
    time = torch.arange(length, **opts) / sampling_rate  # (L,)
    tail = torch.randn((n, c, length), generator=generator, **opts) * torch.exp(-math.log(1000) * time / rt60)
    tail[..., 0] = 0
    tail = tail * torch.rsqrt(tail.pow(2).sum(-1, keepdim=True) * 10 ** (drr_db / 10))
    tail[..., 0] = 1
    # 3. linear convolution by FFT, cropped to T, at the example's power
    x = clean[idx]  # (n, C, T)
    size = t + length
    wet = torch.fft.irfft(torch.fft.rfft(x, n=size) * torch.fft.rfft(tail, n=size), n=size)[..., :t]
    power = x.pow(2).mean((1, 2), keepdim=True) / wet.pow(2).mean((1, 2), keepdim=True).clamp_min(POWER_FLOOR)
    out = clean.clone()
    out[idx] = wet * power.sqrt()
    return out
