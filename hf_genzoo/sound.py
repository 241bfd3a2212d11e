"""What the audio code shares: polyphase resampling between rates, clips as `(C, T)` arrays, and the int16 scale.

Resampling is scipy's `resample_poly` by the reduced integer ratio (torchaudio has no build for this torch); it is
used by the audio data kind, the embedded `speech` set, the denoising pipeline and PESQ, so all four resample alike.
It runs a block at a time (`resample_blocks`): each block of `BLOCK_SECONDS` is resampled with a margin on both
sides wider than the filter's half-length, and only its middle is kept, so the result is the whole-signal
`resample_poly`'s (to float rounding) while only a block is ever held in float64, and a long file can be read block
by block.
"""

import math
from collections.abc import Callable

import numpy as np
import torch

from .errors import UserInputError

INT16_SCALE = 32767.0  # int16 samples <-> float in [-1, 1], as the cache stores audio


BLOCK_SECONDS = 10  # of the input: a block of a 48 kHz stereo file is 7.7 MB in float64


def resampled_length(frames: int, rate: int, target: int) -> int:
    """The length `resample_poly` gives `frames` samples at `rate` resampled to `target`."""
    g = math.gcd(rate, target)
    return math.ceil(frames * (target // g) / (rate // g))


def resample_blocks(
    read: Callable[[int, int], np.ndarray], frames: int, rate: int, target: int, out: np.ndarray
) -> np.ndarray:
    """Resample a signal of `frames` samples from `rate` to `target` Hz into `out` `(..., n)` (any strides, e.g. the
    transpose of a `(T, C)` array), a block at a time: `read(a, b)` gives its samples a..b-1 as `(..., b - a)`.
    Past the signal's resampled length `out` is zero-filled (a longer `n` pads, a shorter one crops)."""
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    up, down = target // g, rate // g
    # blocks and margins on multiples of `down` input samples (= `up` output samples): every block in phase
    step = down * max(1, round(BLOCK_SECONDS * rate / down))
    half = 10 * max(up, down) / up  # resample_poly's filter half-length, in input samples
    margin = down * (math.ceil(half / down) + 1)
    n = out.shape[-1]
    out[..., resampled_length(frames, rate, target) :] = 0
    for s in range(0, frames, step):
        k0 = s // down * up
        if k0 >= n:
            break
        a, b = max(0, s - margin), min(frames, s + step + margin)
        y = resample_poly(
            read(a, b), up, down, axis=-1
        )  # (..., ceil((b - a) up / down)), output k0 at (s - a) up / down
        first = (s - a) // down * up
        k1 = min(n, k0 + step // down * up)
        piece = y[..., first : first + k1 - k0]
        out[..., k0 : k0 + piece.shape[-1]] = piece
    return out


def resample(x: np.ndarray, rate: int, target: int, length: int | None = None) -> np.ndarray:
    """`x` `(..., T)` from `rate` to `target` Hz as float32 (`resample_blocks`: a long stereo file is never held in
    float64); `length` crops (or zero-pads) the result. Same rate: `x` itself."""
    if rate == target:
        return x if length is None else _fit(x, length)
    n = length or resampled_length(x.shape[-1], rate, target)
    out = np.empty((*x.shape[:-1], n), dtype=np.float32)
    return resample_blocks(lambda a, b: x[..., a:b], x.shape[-1], rate, target, out)


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
