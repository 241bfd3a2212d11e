"""What the audio code shares: polyphase resampling between rates, clips as `(C, T)` arrays, and the int16 scale.

Resampling is scipy's `resample_poly` by the reduced integer ratio (torchaudio has no build for this torch); it is
used by the audio data kind, the embedded `speech` set, the denoising pipeline and PESQ, so all four resample alike.
"""

import math

import numpy as np
import torch

from .errors import UserInputError

INT16_SCALE = 32767.0  # int16 samples <-> float in [-1, 1], as the cache stores audio


def resample(x: np.ndarray, rate: int, target: int, length: int | None = None) -> np.ndarray:
    """`x` `(..., T)` from `rate` to `target` Hz as float32, one row at a time into one array (a long stereo file is
    never held twice in float64); `length` crops (or zero-pads) the result. Same rate: `x` itself."""
    if rate == target:
        return x if length is None else _fit(x, length)
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    up, down = target // g, rate // g
    rows = x.reshape(-1, x.shape[-1])
    n = length or math.ceil(rows.shape[-1] * up / down)
    out = np.zeros((len(rows), n), dtype=np.float32)
    for row, resampled in zip(rows, out, strict=True):
        y = resample_poly(row, up, down)
        resampled[: min(n, len(y))] = y[:n]
    return out.reshape(*x.shape[:-1], n)


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    pad = [(0, 0)] * (x.ndim - 1) + [(0, max(0, length - x.shape[-1]))]
    return np.pad(x[..., :length], pad)


def as_channels(x, name: str) -> np.ndarray:
    """A `(T,)` or `(C, T)` clip (numpy or tensor) of finite real samples as a float64 `(C, T)` array."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise UserInputError(f"{name} must be a (T,) or (C, T) clip, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x) or not np.isfinite(x).all():
        raise UserInputError(f"{name} must hold finite real samples")
    return x.reshape(-1, x.shape[-1]).astype(np.float64)


def check_rate(rate, name: str = "sampling_rate") -> int:
    """A sampling rate as a positive int; a `UserInputError` for 0, a negative or a non-integral one."""
    if isinstance(rate, bool) or not float(rate).is_integer() or rate < 1:
        raise UserInputError(f"{name} must be a positive whole number of Hz, got {rate!r}")
    return int(rate)
