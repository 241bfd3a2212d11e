"""Audio metrics against closed forms and the reference PESQ / STOI, and the classical denoising baselines on speech."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import resample_poly

from hf_genzoo.audio_baselines import spectral_subtraction, wiener_filter
from hf_genzoo.errors import UserInputError
from hf_genzoo.metrics import pesq_wb, si_sdr, si_sdr_improvement, snr, stoi

SPEECH = Path("/usr/share/sounds/alsa/Front_Center.wav")  # "front center", 1.43 s of 48 kHz mono speech


@pytest.fixture(scope="module")
def speech_48k() -> np.ndarray:
    if not SPEECH.exists():
        pytest.skip(f"{SPEECH} (alsa-utils' test sounds) is not on this machine")
    sf = pytest.importorskip("soundfile")
    audio, rate = sf.read(SPEECH, dtype="float64")
    assert rate == 48_000 and audio.ndim == 1
    return audio


@pytest.fixture(scope="module")
def speech_16k(speech_48k) -> np.ndarray:
    return resample_poly(speech_48k, 1, 3)


def white_noise_at(signal: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White Gaussian noise scaled so that `signal + noise` has exactly `snr_db` SNR."""
    noise = np.random.default_rng(seed).standard_normal(signal.shape)
    return noise * np.linalg.norm(signal) / np.linalg.norm(noise) / 10 ** (snr_db / 20)


def orthogonal_pair(t: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A zero-mean reference and a zero-mean noise orthogonal to it (Gram-Schmidt), float64 `(T,)` each."""
    g = torch.Generator().manual_seed(seed)
    ref, noise = torch.randn(2, t, generator=g, dtype=torch.float64)
    ref = ref - ref.mean()
    noise = noise - noise.mean()
    noise = noise - (noise @ ref) / (ref @ ref) * ref
    return ref, noise


# ---------------------------------------------------------------- SNR and SI-SDR


def test_snr_equals_energy_ratio_of_reference_and_noise():
    g = torch.Generator().manual_seed(0)
    ref, noise = torch.randn(2, 4000, generator=g, dtype=torch.float64)
    noise = 0.3 * noise  # not orthogonal to ref: SNR only needs ||ref - est|| = ||noise||
    expected = 10 * math.log10(float(ref @ ref) / float(noise @ noise))
    assert float(snr(ref + noise, ref)) == pytest.approx(expected, abs=1e-9)
    # a gain error costs SNR: est = 0.5 * ref leaves residual 0.5 * ref, i.e. 10 log10(4) dB
    assert float(snr(0.5 * ref, ref)) == pytest.approx(10 * math.log10(4), abs=1e-9)


def test_si_sdr_closed_form_for_orthogonal_noise():
    ref, noise = orthogonal_pair(5000, seed=1)
    for a in (1.0, 0.3, 2.5):
        expected = 10 * math.log10(a**2 * float(ref @ ref) / float(noise @ noise))
        assert float(si_sdr(a * ref + noise, ref)) == pytest.approx(expected, abs=1e-9)
    # SNR of the same estimate differs unless a = 1: SI-SDR does not charge for the gain
    assert float(snr(ref + noise, ref)) == pytest.approx(float(si_sdr(ref + noise, ref)), abs=1e-9)


def test_si_sdr_is_scale_and_offset_invariant():
    ref, noise = orthogonal_pair(3000, seed=2)
    est = 0.8 * ref + 0.5 * noise
    base = float(si_sdr(est, ref))
    assert float(si_sdr(3 * est, ref)) == pytest.approx(base, abs=1e-9)
    assert float(si_sdr(-0.2 * est, ref)) == pytest.approx(base, abs=1e-9)
    assert float(si_sdr(est + 5.0, ref - 2.0)) == pytest.approx(base, abs=1e-9)  # the zero-mean version


def test_si_sdr_improvement_closed_form():
    ref, noise = orthogonal_pair(3000, seed=3)
    # halving the orthogonal noise gains exactly 10 log10(4) = 6.02 dB
    assert float(si_sdr_improvement(ref + noise / 2, ref + noise, ref)) == pytest.approx(10 * math.log10(4), abs=1e-9)


def test_batched_shapes_and_types():
    g = torch.Generator().manual_seed(4)
    ref = torch.randn(3, 2, 800, generator=g)  # (B, C, T) float32 stereo batch
    est = ref + 0.1 * torch.randn(3, 2, 800, generator=g)
    for metric in (snr, si_sdr):
        out = metric(est, ref)
        assert isinstance(out, torch.Tensor) and out.shape == (3, 2) and out.dtype == torch.float64
        assert float(out[2, 1]) == pytest.approx(float(metric(est[2, 1], ref[2, 1])), abs=1e-12)
        out_np = metric(est.numpy(), ref.numpy())
        assert isinstance(out_np, np.ndarray) and out_np.shape == (3, 2)
        np.testing.assert_allclose(out_np, out.numpy(), atol=1e-12)
    perfect = si_sdr(ref, ref)
    assert torch.isfinite(perfect).all() and (perfect > 80).all()
    with pytest.raises(UserInputError, match="shapes differ"):
        si_sdr(est, ref[..., :-1])
    with pytest.raises(UserInputError, match=r"\(\.\.\., T\)"):
        snr(torch.tensor(1.0), torch.tensor(1.0))


# ---------------------------------------------------------------- PESQ and STOI


def test_pesq_is_maximal_on_identical_speech_and_drops_with_noise(speech_48k):
    pytest.importorskip("pesq")
    assert pesq_wb(speech_48k, speech_48k, 48_000) == pytest.approx(4.64, abs=0.01)  # P.862.2's ceiling
    noisy = speech_48k + white_noise_at(speech_48k, 20)
    score = pesq_wb(noisy, speech_48k, 48_000)
    assert 1.0 < score < 2.5
    # the 48 kHz input went through resample_poly(up=1, down=3) (in float32): the score of resampling beforehand
    expected = pesq_wb(resample_poly(noisy, 1, 3), resample_poly(speech_48k, 1, 3), 16_000)
    assert score == pytest.approx(expected, abs=1e-3)


def test_pesq_averages_channels_and_skips_silent_ones(speech_16k):
    pytest.importorskip("pesq")
    noisy = speech_16k + white_noise_at(speech_16k, 20)
    clean_score, noisy_score = pesq_wb(speech_16k, speech_16k, 16_000), pesq_wb(noisy, speech_16k, 16_000)
    stereo = pesq_wb(np.stack([speech_16k, noisy]), np.stack([speech_16k, speech_16k]), 16_000)  # (2, T)
    assert stereo == pytest.approx((clean_score + noisy_score) / 2)
    silence = np.zeros_like(speech_16k)
    assert pesq_wb(np.stack([noisy, silence]), np.stack([speech_16k, silence]), 16_000) == pytest.approx(noisy_score)
    assert math.isnan(pesq_wb(silence, silence, 16_000))
    assert math.isnan(pesq_wb(speech_16k[:2000], speech_16k[:2000], 16_000))  # under 0.25 s


def test_stoi_is_one_on_identical_speech_and_lower_with_noise(speech_48k):
    pytest.importorskip("pystoi")
    for extended in (False, True):
        assert stoi(speech_48k, speech_48k, 48_000, extended=extended) == pytest.approx(1.0, abs=1e-6)
    noisy = speech_48k + white_noise_at(speech_48k, -5)
    assert stoi(noisy, speech_48k, 48_000) < 0.9  # measured 0.83
    assert stoi(noisy, speech_48k, 48_000, extended=True) < 0.6  # measured 0.41


def test_missing_optional_packages_name_the_extra(monkeypatch, speech_16k):
    monkeypatch.setitem(sys.modules, "pesq", None)  # makes `import pesq` raise ImportError
    monkeypatch.setitem(sys.modules, "pystoi", None)
    with pytest.raises(UserInputError, match=r'pip install "hf_genzoo\[audio\]"'):
        pesq_wb(speech_16k, speech_16k, 16_000)
    with pytest.raises(UserInputError, match=r'pip install "hf_genzoo\[audio\]"'):
        stoi(speech_16k, speech_16k, 16_000)


def test_clip_metrics_reject_bad_input(speech_16k):
    pytest.importorskip("pesq")
    with pytest.raises(UserInputError, match="shapes differ"):
        pesq_wb(speech_16k[:-1], speech_16k, 16_000)
    with pytest.raises(UserInputError, match=r"\(T,\) or \(C, T\)"):
        pesq_wb(speech_16k[None, None], speech_16k[None, None], 16_000)
    with pytest.raises(UserInputError, match="sampling_rate"):
        pesq_wb(speech_16k, speech_16k, 16_000.5)


# ---------------------------------------------------------------- classical baselines


@pytest.mark.parametrize("denoise", [spectral_subtraction, wiener_filter])
def test_baselines_improve_speech_in_white_noise(denoise, speech_16k):
    noisy = speech_16k + white_noise_at(speech_16k, 5)
    assert float(snr(noisy, speech_16k)) == pytest.approx(5.0, abs=1e-6)
    out = denoise(noisy, 16_000)
    # measured: SI-SDR 5.0 -> 14.3 dB (spectral subtraction), 13.4 dB (Wiener); SNR alike
    assert float(si_sdr_improvement(out, noisy, speech_16k)) > 7.0
    assert float(snr(out, speech_16k)) - 5.0 > 7.0


@pytest.mark.parametrize("denoise", [spectral_subtraction, wiener_filter])
def test_baselines_suppress_pure_noise(denoise):
    noise = np.random.default_rng(5).standard_normal(32_000)
    out = denoise(noise, 16_000)
    # the percentile noise estimate is unbiased, so most bins hit the floor: measured -14.6 dB, -19.2 dB
    assert 10 * math.log10(np.sum(out.astype(np.float64) ** 2) / np.sum(noise**2)) < -12.0


@pytest.mark.parametrize("denoise", [spectral_subtraction, wiener_filter])
def test_baselines_keep_shape_dtype_and_channels_apart(denoise, speech_16k):
    noisy = speech_16k + white_noise_at(speech_16k, 5)
    mono = noisy[:-3]  # odd length (22846 samples, not a whole number of hops)
    out = denoise(mono, 16_000)
    assert out.shape == mono.shape and out.dtype == np.float32
    stereo = np.stack([mono, 0.3 * mono[::-1]]).astype(np.float32)  # (2, T)
    out2 = denoise(stereo, 16_000)
    assert out2.shape == stereo.shape and out2.dtype == np.float32
    np.testing.assert_allclose(out2[0], out, atol=1e-5)  # channel 0 is filtered as if alone
    assert not np.any(denoise(np.zeros(1001), 16_000))  # silence in, silence out, no NaN


def test_wiener_leaves_clean_speech_nearly_unchanged(speech_16k):
    clean = speech_16k + white_noise_at(speech_16k, 40)  # a studio recording's noise floor
    out = wiener_filter(clean, 16_000)
    assert float(si_sdr(out, clean)) > 30.0  # measured 38.6 dB
    assert float(si_sdr(wiener_filter(speech_16k, 16_000), speech_16k)) > 60.0  # digital silence: ~92 dB


def test_baselines_reject_bad_input(speech_16k):
    with pytest.raises(UserInputError, match=r"\(T,\) or \(C, T\)"):
        wiener_filter(np.zeros((1, 2, 1000)), 16_000)
    with pytest.raises(UserInputError, match="fewer than one"):
        spectral_subtraction(np.zeros(100), 16_000)
    with pytest.raises(UserInputError, match="finite"):
        wiener_filter(np.full(1000, np.nan), 16_000)
    with pytest.raises(UserInputError, match="noise_percentile"):
        wiener_filter(speech_16k, 16_000, noise_percentile=0)
    with pytest.raises(UserInputError, match="over_subtraction"):
        spectral_subtraction(speech_16k, 16_000, over_subtraction=0.5)
    with pytest.raises(UserInputError, match="smoothing"):
        wiener_filter(speech_16k, 16_000, smoothing=1.0)
