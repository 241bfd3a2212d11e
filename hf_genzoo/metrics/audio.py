"""Quality metrics for denoised audio: SNR and SI-SDR (batched, on the training device), PESQ and STOI (per clip).

- SI-SDR: Le Roux et al. 2019, "SDR - half-baked or well done?", https://arxiv.org/abs/1811.02508
- Wide-band PESQ: ITU-T P.862.2 (2007), through the `pesq` package (https://github.com/ludlows/PESQ)
- STOI: Taal et al. 2011, "An Algorithm for Intelligibility Prediction of Time-Frequency Weighted Noisy Speech",
  IEEE TASLP 19(7); extended STOI: Jensen & Taal 2016, IEEE TASLP 24(11); both through `pystoi`

`snr` and `si_sdr` take torch tensors (or numpy arrays) of shape `(..., T)`, e.g. `(B, 2, T)` for a batch of stereo
clips, and return one value per signal, `(...)`. The *improvement* of a denoiser in any of these metrics is
`metric(estimate, reference) - metric(noisy, reference)`; `si_sdr_improvement` is the one that papers report
(SI-SDRi). `pesq_wb` and `stoi` run the reference C / numpy implementations on one `(T,)` or `(C, T)` clip and
average over channels. They need the optional packages: `pip install "hf_genzoo[audio]"`.
"""

import math

import numpy as np
import torch

from ..errors import UserInputError
from ..sound import as_channels, check_rate, resample

Array = torch.Tensor | np.ndarray

PESQ_SAMPLING_RATE = 16_000  # P.862.2 (wide band) is defined at 16 kHz only


def _as_pair(
    estimate: Array, reference: Array, differentiable: bool = False
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Both signals as float64 tensors on the estimate's device (the estimate's graph kept when `differentiable`),
    and whether to hand back numpy."""
    as_numpy = not isinstance(estimate, torch.Tensor) and not isinstance(reference, torch.Tensor)
    est = torch.as_tensor(estimate)
    est = est if differentiable else est.detach()
    ref = torch.as_tensor(reference).detach().to(est.device)
    if est.shape != ref.shape:
        raise UserInputError(f"estimate and reference shapes differ: {tuple(est.shape)} vs {tuple(ref.shape)}")
    if est.ndim == 0 or est.shape[-1] == 0:
        raise UserInputError(f"signals must have shape (..., T) with T >= 1 samples, got {tuple(est.shape)}")
    return est.to(torch.float64), ref.to(torch.float64), as_numpy


def _energy_ratio_db(signal: torch.Tensor, distortion: torch.Tensor, eps: float, as_numpy: bool) -> Array:
    """10 log10((||signal||^2 + eps) / (||distortion||^2 + eps)) over the last axis: `(..., T)` -> `(...)`."""
    ratio = (signal.square().sum(-1) + eps) / (distortion.square().sum(-1) + eps)  # (...)
    db = 10 * torch.log10(ratio)
    return db.cpu().numpy() if as_numpy else db


def snr(estimate: Array, reference: Array, eps: float = 1e-8, differentiable: bool = False) -> Array:
    r"""Signal-to-noise ratio in dB, `10 log10(||reference||^2 / ||reference - estimate||^2)`, over the last axis.

    Not scale-invariant: an estimate that is right up to its gain still loses SNR (see `si_sdr`).

    Args:
        estimate (`torch.Tensor` or `np.ndarray` of shape `(..., T)`):
            The denoised (or noisy) signal.
        reference (`torch.Tensor` or `np.ndarray` of shape `(..., T)`):
            The clean signal, same shape.
        eps (`float`, *optional*, defaults to 1e-8):
            Added to both energies, so a silent reference or a perfect estimate gives a finite value.
        differentiable (`bool`, *optional*, defaults to `False`):
            Keep the estimate's autograd graph, so that `-snr` can be a training loss.

    Returns:
        `torch.Tensor` or `np.ndarray` of shape `(...)`: float64 values in dB, a tensor on the estimate's device
        unless both inputs are numpy arrays.
    """
    est, ref, as_numpy = _as_pair(estimate, reference, differentiable)
    return _energy_ratio_db(ref, ref - est, eps, as_numpy)


def si_sdr(estimate: Array, reference: Array, eps: float = 1e-8, differentiable: bool = False) -> Array:
    r"""Scale-invariant signal-to-distortion ratio in dB ([Le Roux et al. 2019](https://arxiv.org/abs/1811.02508)),
    over the last axis.

    Both signals are made zero-mean first (the paper's recommendation), then, as the paper defines it,

        alpha = <estimate, reference> / ||reference||^2,   target = alpha * reference,
        SI-SDR = 10 log10(||target||^2 / ||estimate - target||^2),

    so rescaling the estimate leaves the value unchanged.

    Args:
        estimate (`torch.Tensor` or `np.ndarray` of shape `(..., T)`):
            The denoised (or noisy) signal.
        reference (`torch.Tensor` or `np.ndarray` of shape `(..., T)`):
            The clean signal, same shape.
        eps (`float`, *optional*, defaults to 1e-8):
            Added to `||reference||^2` in alpha and to both energies of the ratio, so silence gives a finite value.
        differentiable (`bool`, *optional*, defaults to `False`):
            Keep the estimate's autograd graph, so that `-si_sdr` can be a training loss.

    Returns:
        `torch.Tensor` or `np.ndarray` of shape `(...)`: float64 values in dB, a tensor on the estimate's device
        unless both inputs are numpy arrays.
    """
    est, ref, as_numpy = _as_pair(estimate, reference, differentiable)
    # 1. remove the mean of each signal
    est = est - est.mean(-1, keepdim=True)  # (..., T)
    ref = ref - ref.mean(-1, keepdim=True)
    # 2. project the estimate onto the reference: the target is the best-scaled reference
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.square().sum(-1, keepdim=True) + eps)  # (..., 1)
    target = alpha * ref  # (..., T)
    # 3. energy of the target over that of the residual, which is orthogonal to it
    return _energy_ratio_db(target, est - target, eps, as_numpy)


def si_sdr_improvement(estimate: Array, noisy: Array, reference: Array, eps: float = 1e-8) -> Array:
    """SI-SDRi in dB: `si_sdr(estimate, reference) - si_sdr(noisy, reference)`, what denoising gained.

    Args:
        estimate (`torch.Tensor` or `np.ndarray` of shape `(..., T)`):
            The denoised signal.
        noisy (`torch.Tensor` or `np.ndarray` of shape `(..., T)`):
            The denoiser's input.
        reference (`torch.Tensor` or `np.ndarray` of shape `(..., T)`):
            The clean signal.
        eps (`float`, *optional*, defaults to 1e-8):
            As in `si_sdr`.

    Returns:
        `torch.Tensor` or `np.ndarray` of shape `(...)`: as `si_sdr`.
    """
    return si_sdr(estimate, reference, eps) - si_sdr(noisy, reference, eps)


def _clip_pair(estimate: Array, reference: Array, sampling_rate: int) -> tuple[np.ndarray, np.ndarray]:
    est, ref = as_channels(estimate, "estimate"), as_channels(reference, "reference")
    if est.shape != ref.shape:
        raise UserInputError(f"estimate and reference shapes differ: {est.shape} vs {ref.shape}")
    if sampling_rate != int(sampling_rate) or sampling_rate <= 0:
        raise UserInputError(f"sampling_rate must be a positive whole number of Hz, got {sampling_rate}")
    return est, ref


def _missing(package: str) -> UserInputError:
    return UserInputError(f'this metric needs the `{package}` package: pip install "hf_genzoo[audio]"')


def pesq_wb(estimate: Array, reference: Array, sampling_rate: int) -> float:
    """Wide-band PESQ (ITU-T P.862.2, MOS-LQO from about 1.04 to 4.64) of a clip, averaged over its channels.

    P.862.2 is defined at 16 kHz; other rates are resampled with `scipy.signal.resample_poly` by the reduced integer
    ratio `16000 / sampling_rate` (e.g. up 1, down 3 from 48 kHz). A channel on which PESQ is undefined counts as
    NaN and the others are averaged (`np.nanmean`), so the result is NaN only if every channel is: that is when
    `pesq` raises (it detects no utterance, as in silence, or the clip is under 0.25 s) and when the estimate or the
    reference channel is all zeros. Note that an estimate that is digitally silent therefore drops out of the mean
    instead of scoring low; count NaNs where that matters.

    Args:
        estimate (`np.ndarray` or `torch.Tensor` of shape `(T,)` or `(C, T)`):
            The denoised (or noisy) clip.
        reference (`np.ndarray` or `torch.Tensor` of shape `(T,)` or `(C, T)`):
            The clean clip, same shape.
        sampling_rate (`int`):
            Sampling rate of both clips in Hz.

    Returns:
        `float`: the channel mean of the PESQ scores.
    """
    try:
        from pesq import PesqError, pesq
    except ImportError as error:
        raise _missing("pesq") from error
    est, ref = _clip_pair(estimate, reference, sampling_rate)
    rate = check_rate(sampling_rate)
    est = resample(est, rate, PESQ_SAMPLING_RATE).astype(np.float64)  # (C, T * 16000 / rate)
    ref = resample(ref, rate, PESQ_SAMPLING_RATE).astype(np.float64)
    scores = []
    for e, r in zip(est, ref, strict=True):
        if not e.any() or not r.any():  # `pesq` divides by the peak: all-zero input fails with a bare ValueError
            scores.append(math.nan)
            continue
        try:
            scores.append(pesq(PESQ_SAMPLING_RATE, r, e, "wb"))
        except PesqError:  # NoUtterancesError, BufferTooShortError (under 0.25 s)
            scores.append(math.nan)
    return math.nan if all(math.isnan(s) for s in scores) else float(np.nanmean(scores))


def stoi(estimate: Array, reference: Array, sampling_rate: int, extended: bool = False) -> float:
    """Short-time objective intelligibility ([Taal et al. 2011](https://doi.org/10.1109/TASL.2011.2114881)) of a
    clip, averaged over its channels, from `pystoi` (which resamples to its 10 kHz internally).

    Args:
        estimate (`np.ndarray` or `torch.Tensor` of shape `(T,)` or `(C, T)`):
            The denoised (or noisy) clip.
        reference (`np.ndarray` or `torch.Tensor` of shape `(T,)` or `(C, T)`):
            The clean clip, same shape.
        sampling_rate (`int`):
            Sampling rate of both clips in Hz.
        extended (`bool`, *optional*, defaults to `False`):
            Extended STOI ([Jensen & Taal 2016](https://doi.org/10.1109/TASLP.2016.2585878)), which also handles
            strongly modulated noise.

    Returns:
        `float`: the channel mean, about 0 (unintelligible) to 1 (identical).
    """
    try:
        from pystoi import stoi as pystoi_stoi
    except ImportError as error:
        raise _missing("pystoi") from error
    est, ref = _clip_pair(estimate, reference, sampling_rate)
    scores = [pystoi_stoi(r, e, int(sampling_rate), extended=extended) for e, r in zip(est, ref, strict=True)]
    return float(np.mean(scores))
