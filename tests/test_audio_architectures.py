"""The audio denoiser's newer parts: the DEMUCS-style `WaveUNet` (lengths, causality, skips, FLOPs), the
`SpectralMaskNet` (an all-pass mask is the identity), the multi-resolution STFT loss (closed forms), the synthetic
rooms of `reverberate`, and block-wise resampling (equal to scipy's whole-signal `resample_poly`)."""

import math

import numpy as np
import pytest
import torch
from scipy.signal import resample_poly
from torch.utils.flop_counter import FlopCounterMode

from hf_genzoo.data.audio_noise import ROOM_DRR_DB, ROOM_RT60, reverberate
from hf_genzoo.errors import UserInputError
from hf_genzoo.models import SpectralMaskNet, WaveUNet
from hf_genzoo.pipelines import AudioDenoisingPipeline
from hf_genzoo.sound import resample, resample_blocks
from hf_genzoo.training.audio_denoiser import STFT_RESOLUTIONS, multi_resolution_stft_loss, waveform_loss

from .conftest import randomize_parameters

TINY = {"block_out_channels": (4, 8, 8), "lstm_layers": 1}


def input_support(model, length: int, t: int) -> tuple[int, int]:
    """The first and last input sample (relative to t) that output sample t of channel 0 depends on."""
    x = torch.randn(1, model.config.audio_channels, length, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    model(x).sample[0, 0, t].backward()
    touched = (x.grad[0].abs().sum(0) > 0).nonzero().flatten()
    return int(touched.min()) - t, int(touched.max()) - t


# --- WaveUNet


@pytest.mark.parametrize("length", [1, 5, 63, 64, 65, 1001])
@pytest.mark.parametrize("causal", [True, False])
def test_the_unet_keeps_any_length(length, causal):
    model = WaveUNet(audio_channels=2, causal=causal, **TINY)
    out = model(torch.randn(2, 2, length))
    assert out.sample.shape == (2, 2, length) and out.latents.shape == (2, 8, -(-length // 64))


def test_the_causal_unet_never_looks_further_ahead_than_its_block():
    model = randomize_parameters(WaveUNet(normalize=False, **TINY), 0.1).eval()  # normalize: the clip's std
    block = model.block_size
    assert block == 64
    ahead = [input_support(model, 8 * block, t)[1] for t in range(3 * block, 4 * block)]
    assert max(ahead) == block - 1 and min(ahead) == 0  # the first sample of a block waits for the whole block
    behind = input_support(model, 8 * block, 5 * block)[0]
    assert behind == -5 * block  # the LSTM carries everything before
    both = randomize_parameters(WaveUNet(normalize=False, causal=False, **TINY), 0.1).eval()
    assert input_support(both, 8 * block, 3 * block)[1] == 5 * block - 1  # a bidirectional LSTM: to the end


def test_the_skips_carry_the_input_past_the_bottleneck():
    """With every deeper level's output zeroed, the first level's skip alone still passes the input through."""
    model = randomize_parameters(WaveUNet(normalize=False, lstm_layers=0, block_out_channels=(4, 8)), 0.1).eval()
    x = torch.randn(1, 2, 256, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.encoder[1][2].weight.zero_()  # the second level's 1x1 convolution: its GLU gives 0
        model.encoder[1][2].bias.zero_()
        model.decoder[0][0].weight.zero_()  # and the decoder's deepest level sees 0 + 0
        model.decoder[0][0].bias.zero_()
        y = model(x).sample
    assert y.abs().sum() > 0  # through the first level's skip, not the zeroed bottom


def test_normalisation_makes_the_unet_scale_equivariant():
    model = randomize_parameters(WaveUNet(**TINY), 0.1).eval()
    x = 100 * torch.randn(1, 2, 500, generator=torch.Generator().manual_seed(2)).double()  # far above the 1e-3 floor
    model = model.double()
    y = 7 * model(x).sample  # values of a few hundred: a floor of 1e-3 in 100 moves them by ~1e-5 of that
    torch.testing.assert_close(model(7 * x).sample, y, rtol=1e-5, atol=1e-5 * y.abs().max().item())


def test_the_unet_flops_are_those_counted():
    model = WaveUNet(lstm_layers=0)  # torch's counter does not count the LSTM's fused kernel
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 2, 16_384))
    assert model.flops(16_384) == counter.get_total_flops()
    with_lstm = WaveUNet(lstm_layers=2)
    frames, c = 16_384 // 256, 256
    assert with_lstm.flops(16_384) - model.flops(16_384) == 2 * (2 * 4 * c * (c + c) * frames)


def test_bad_unet_options_are_clear_errors():
    with pytest.raises(UserInputError, match="kernel_size a multiple of it"):
        WaveUNet(kernel_size=6, stride=4)
    with pytest.raises(UserInputError, match="lstm_layers must be 0"):
        WaveUNet(lstm_layers=-1)
    with pytest.raises(UserInputError, match=r"WaveUNet takes waveforms of shape \(B, 2, T\)"):
        WaveUNet(**TINY)(torch.randn(1, 1, 100))


def test_a_unet_pipeline_denoises_in_chunks_as_whole():
    model = randomize_parameters(
        WaveUNet(normalize=False, causal=False, lstm_layers=0, **{"block_out_channels": (4, 8)})
    )
    pipe = AudioDenoisingPipeline(denoiser=model.eval())
    pipe.set_progress_bar_config(disable=True)
    x = np.random.default_rng(0).standard_normal((2, 4000)).astype(np.float32) * 0.1
    whole = pipe(x, chunk_seconds=1.0).audio
    chunked = pipe(x, chunk_seconds=0.05, overlap_seconds=0.01).audio  # 800-sample chunks, 160 overlapping
    assert whole.shape == chunked.shape == x.shape
    # the receptive field of two levels of kernel 8, stride 4 is 40 samples: away from the chunk edges they agree
    np.testing.assert_allclose(whole[:, :600], chunked[:, :600], atol=1e-5)


# --- SpectralMaskNet


def test_an_all_pass_mask_gives_the_input_back():
    model = SpectralMaskNet(hidden_size=16, gru_layers=1).eval()
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.fill_(30.0)  # sigmoid(30) = 1 - 9e-14
    x = torch.randn(2, 2, 3000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model(x).sample, x, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        model.out.bias.fill_(-30.0)  # all-stop
    assert model(x).sample.abs().max() < 1e-6


def test_an_all_pass_complex_mask_gives_the_input_back_and_a_quarter_turn_rotates_every_bin():
    model = SpectralMaskNet(hidden_size=16, gru_layers=1, mask="complex").eval()
    bins = 2 * (model.config.n_fft // 2 + 1)  # the real parts' outputs, then the imaginary parts', per channel
    x = torch.randn(1, 2, 3000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()
        model.out.bias.view(2, 2, -1)[:, 0] = 30.0  # m = 30 + 0i: tanh(30) = 1, no rotation
        torch.testing.assert_close(model(x).sample, x, atol=1e-5, rtol=1e-5)
        model.out.bias.view(2, 2, -1)[:, 0] = 0.0
        model.out.bias.view(2, 2, -1)[:, 1] = 30.0  # m = 30i: every bin turned by 90 degrees, i.e. -Hilbert
    assert model.out.bias.numel() == 2 * bins
    y = model(x).sample.detach()
    spec = torch.stft(x.flatten(0, 1), 512, 128, window=torch.hann_window(512), return_complex=True)
    want = torch.istft(spec * 1j, 512, 128, window=torch.hann_window(512), length=3000).reshape(x.shape)
    torch.testing.assert_close(y, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mask", ["magnitude", "complex"])
def test_the_mask_net_runs_with_bf16_weights_close_to_fp32(mask):
    model = randomize_parameters(SpectralMaskNet(hidden_size=16, gru_layers=1, mask=mask), 0.1).eval()
    x = torch.randn(1, 2, 4000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(x).sample
        half = model.to(torch.bfloat16)(x.bfloat16()).sample
    assert half.dtype == torch.bfloat16 and (half.float() - full).abs().max() < 0.05 * full.abs().max()


@pytest.mark.parametrize("mask", ["magnitude", "complex"])
def test_the_mask_net_is_causal_over_frames(mask):
    model = randomize_parameters(SpectralMaskNet(hidden_size=8, gru_layers=1, mask=mask), 0.1).eval()
    ahead = max(input_support(model, 4096, t)[1] for t in (1000, 1100, 1234))
    assert 0 < ahead <= model.config.n_fft  # the frames that hold t, and no later one


# --- the multi-resolution STFT loss


def test_the_stft_loss_is_zero_at_the_clean_clip_and_known_at_twice_it():
    clean = torch.randn(2, 2, 8000, generator=torch.Generator().manual_seed(0)).double()
    assert multi_resolution_stft_loss(clean, clean).item() == pytest.approx(0.0, abs=1e-12)
    # |S^| = 2 |S|: the spectral convergence is 1 and the log-magnitude distance log 2, at every resolution
    assert multi_resolution_stft_loss(2 * clean, clean).item() == pytest.approx(1 + math.log(2), rel=1e-6)
    l1 = (clean).abs().mean().item()
    assert waveform_loss("l1_stft", 2 * clean, clean).item() == pytest.approx(l1 + 0.5 * (1 + math.log(2)), rel=1e-6)
    assert len(STFT_RESOLUTIONS) == 3


def test_the_stft_loss_has_its_autograd_gradient():
    clean = torch.randn(1, 1, 2400, generator=torch.Generator().manual_seed(1)).double()
    estimate = (clean + 0.3 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))).requires_grad_()
    loss = waveform_loss("l1_stft", estimate, clean)
    loss.backward()
    grad = estimate.grad.clone()
    # a finite difference along the gradient's own direction
    step = 1e-6 * grad / grad.norm()
    with torch.no_grad():
        change = waveform_loss("l1_stft", estimate + step, clean) - waveform_loss("l1_stft", estimate - step, clean)
    assert change.item() / 2 == pytest.approx((grad * step).sum().item(), rel=1e-3)


# --- synthetic rooms


def test_rooms_have_the_drawn_decay_and_direct_to_reverberant_ratio_and_keep_the_power():
    rate, n = 16_000, 64
    impulse = torch.zeros(n, 2, rate)
    impulse[..., 0] = 1.0  # each example a unit impulse: the output is its (rescaled) impulse response
    h = reverberate(impulse, rate, 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(h.pow(2).mean((1, 2)), impulse.pow(2).mean((1, 2)))  # the power kept
    direct, tail = h[..., 0] ** 2, h[..., 1:].pow(2).sum(-1)  # (n, 2)
    drr = 10 * torch.log10(direct / tail)
    assert ROOM_DRR_DB[0] - 0.01 <= drr.min() and drr.max() <= ROOM_DRR_DB[1] + 0.01
    assert drr.std() > 2  # drawn, not fixed
    # the energy decay: a line fitted to the log envelope of the first 100 ms gives an RT60 in the drawn range
    energy = h[:, 0, 1 : 1 + rate // 10].pow(2).reshape(n, -1, 80).mean(-1)  # (n, 20) in 5 ms frames
    t = (torch.arange(energy.shape[1]) + 0.5) * 80 / rate
    slope = np.polyfit(t.numpy(), 10 * np.log10(energy.numpy().T), 1)[0]  # dB per second, (n,)
    rt60 = -60 / slope
    assert (rt60 > 0.7 * ROOM_RT60[0]).all() and (rt60 < 1.3 * ROOM_RT60[1]).all()
    assert not torch.equal(h[:, 0], h[:, 1])  # the two channels hear different tails


def test_rooms_touch_only_the_share_asked():
    x = torch.randn(400, 1, 800, generator=torch.Generator().manual_seed(3))
    assert reverberate(x, 16_000, 0.0) is x
    y = reverberate(x, 16_000, 0.25, torch.Generator().manual_seed(4))
    changed = (y - x).abs().flatten(1).amax(1) > 0
    assert 0.18 < changed.float().mean() < 0.32
    with pytest.raises(UserInputError, match=r"in \[0, 1\]"):
        reverberate(x, 16_000, 1.5)


# --- block-wise resampling


@pytest.mark.parametrize("rate,target", [(48_000, 16_000), (16_000, 48_000), (44_100, 16_000), (16_000, 22_050)])
def test_block_wise_resampling_equals_whole_signal_resample_poly(rate, target):
    x = np.random.default_rng(0).standard_normal((2, 23 * rate + 17)).astype(np.float32)  # three 10 s blocks
    g = math.gcd(rate, target)
    whole = resample_poly(x, target // g, rate // g, axis=-1).astype(np.float32)
    np.testing.assert_array_equal(resample(x, rate, target), whole)
    longer = resample(x, rate, target, whole.shape[-1] + 5)
    np.testing.assert_array_equal(longer[:, : whole.shape[-1]], whole)
    assert not longer[:, whole.shape[-1] :].any()
    into = np.ones((whole.shape[-1] - 9, 2), dtype=np.float32)  # a (T, C) array, written through its transpose
    reads = []

    def read(a, b):
        reads.append(b - a)
        return x[:, a:b]

    resample_blocks(read, x.shape[-1], rate, target, into.T)
    np.testing.assert_array_equal(into.T, whole[:, : into.shape[0]])
    assert len(reads) == 3 and max(reads) < 11 * rate  # a block and its margins at a time, never the whole
