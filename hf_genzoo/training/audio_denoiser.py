"""The audio denoiser's objective: clean segments in, noise mixed on the device, the clean one out.

The model is chosen by `--model_config "architecture=..."`: `'stft_mask'` (the recipe: `SpectralMaskNet`, a GRU
predicting a gain per STFT bin, the better at equal CPU time), `'unet'` (the DEMUCS-style `WaveUNet`) or
`'classic'` (the lecture's `AudioDenoisingAE`); the rest of `--model_config` goes to its constructor.

Per batch of clean segments s `(B, C, T)` (int16 in the cache -> float in [-1, 1]): put a share of them in
synthetic rooms (`--reverb`, `hf_genzoo.data.audio_noise.reverberate`), draw a noise kind and an SNR per segment
(`hf_genzoo.data.audio_noise.NoiseMix`, e.g. white, pink, brown, mains hum or babble at -5..20 dB), x = s + n, and
minimise the loss of f(x) against s (`waveform_loss`: the negative SNR in dB by default; waveform L1 plus the
multi-resolution STFT loss as DEMUCS, squared or absolute error, or the negative SI-SDR with `--loss`). Fresh
noise every step: the model never sees the same mixture twice. The held-out split is mixed with a fixed seed, so
every evaluation scores the same mixtures: SI-SDR and SNR of the output and of the noisy input, and their
difference (the improvement, SI-SDRi). Babble is made of the other clips of a batch, so the held-out mixtures
depend on the batch size too.
"""

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator

from hf_genzoo.models.audio_denoiser import AudioDenoisingAE, SpectralMaskNet, WaveUNet
from hf_genzoo.pipelines.audio_denoiser import AudioDenoisingPipeline

from ..data import TensorData
from ..data.audio_noise import DEFAULT_NOISE, NoiseMix, parse_noise_mix, reverberate
from ..errors import UserInputError
from ..metrics.audio import si_sdr, snr
from ..sound import INT16_SCALE
from ..viz import spectrogram_images
from .config import TrainConfig
from .objective import Objective, build_model

LOSSES = ("l1_stft", "mse", "l1", "snr", "si_sdr")
ARCHITECTURES = {"unet": WaveUNet, "stft_mask": SpectralMaskNet, "classic": AudioDenoisingAE}
DEFAULT_ARCHITECTURE = "stft_mask"  # the better of the two at equal CPU time (docs/families/audio_denoiser.md)
DEFAULT_MASK = "complex"  # the recipe's mask for `stft_mask`: 0.34 dB over the magnitude mask at equal time (ibid.)
# (FFT size, hop, window) of the multi-resolution STFT loss: Yamamoto et al. 2020's, as DEMUCS uses them at 16 kHz
STFT_RESOLUTIONS = ((512, 50, 240), (1024, 120, 600), (2048, 240, 1200))
EVAL_NOISE_SEED = 1234  # the same noisy held-out mixtures at every evaluation
PICTURED = 4  # segments in the training pictures (each a wide spectrogram)


def waveforms(batch: dict) -> torch.Tensor:
    """The batch's int16 segments as float `(B, C, T)` in [-1, 1]."""
    return batch["audio_values"].float() / INT16_SCALE


def multi_resolution_stft_loss(estimate: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    r"""The multi-resolution STFT loss of Yamamoto et al., "Parallel WaveGAN", ICASSP 2020
    (https://arxiv.org/abs/1910.11480), eqs. 4-6: over the `STFT_RESOLUTIONS`, the mean of the spectral convergence
    `|| |S| - |S^| ||_F / || |S| ||_F` and the log-magnitude distance `mean |log |S| - log |S^||`, magnitudes of
    Hann-windowed STFTs of every channel of `(B, C, T)` floored at 1e-7 (as DEMUCS trains)."""
    x, y = estimate.flatten(0, 1), clean.flatten(0, 1)  # (B * C, T)
    total = 0.0
    for n_fft, hop, window in STFT_RESOLUTIONS:
        w = torch.hann_window(window, device=x.device, dtype=x.dtype)
        mag_x, mag_y = (
            torch.stft(v, n_fft, hop, window, w, return_complex=True).abs().clamp_min(1e-7) for v in (x, y)
        )  # (B * C, n_fft // 2 + 1, frames)
        convergence = torch.linalg.vector_norm(mag_y - mag_x) / torch.linalg.vector_norm(mag_y)
        total = total + convergence + F.l1_loss(mag_x.log(), mag_y.log())
    return total / len(STFT_RESOLUTIONS)


def waveform_loss(kind: str, estimate: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """The loss of estimates `(B, C, T)`: `l1_stft`, the mean absolute error plus half the multi-resolution STFT
    loss (DEMUCS's weights: 0.5 for each of its two terms); the mean squared or absolute error over every sample;
    or, each channel of each clip scored alone and averaged, the negative SNR or the negative SI-SDR in dB (as
    speech separation models are trained: Luo & Mesgarani, Conv-TasNet, 2019). In dB every clip counts alike,
    whatever its input SNR, where the squared error is ruled by the noisiest clips; SNR also keeps the output's
    level, SI-SDR leaves it free."""
    if kind in ("snr", "si_sdr"):
        return -(snr if kind == "snr" else si_sdr)(estimate, clean, differentiable=True).mean()
    if kind == "l1_stft":
        return F.l1_loss(estimate, clean) + 0.5 * multi_resolution_stft_loss(estimate, clean)
    return F.l1_loss(estimate, clean) if kind == "l1" else F.mse_loss(estimate, clean)


@torch.no_grad()
def evaluate_denoiser(model, loader, accelerator: Accelerator, mix: NoiseMix, rate: int) -> dict:
    """SI-SDR and SNR (dB, averaged over channels, then segments) of the denoised output and of the noisy input
    against the clean segment, their improvement, and the mean loss. The mixtures are seeded."""
    g = torch.Generator(device=accelerator.device).manual_seed(EVAL_NOISE_SEED)
    sums, n = {}, 0
    for batch in loader:
        clean = waveforms(batch).to(accelerator.device)  # (B, C, T)
        noisy, _ = mix(clean, rate, g)
        out = model(noisy).sample.float()
        values = {
            "si_sdr": si_sdr(out, clean).mean(1),  # (B,)
            "si_sdr_noisy_input": si_sdr(noisy, clean).mean(1),
            "snr": snr(out, clean).mean(1),
            "snr_noisy_input": snr(noisy, clean).mean(1),
            "loss": F.mse_loss(out, clean, reduction="none").flatten(1).mean(1),
        }
        values = accelerator.gather_for_metrics(values)
        for key, v in values.items():
            sums[key] = sums.get(key, 0.0) + v.double().sum().item()
        n += len(values["loss"])
    metrics = {key: v / n for key, v in sums.items()}
    metrics["si_sdr_improvement"] = metrics["si_sdr"] - metrics["si_sdr_noisy_input"]
    metrics["snr_improvement"] = metrics["snr"] - metrics["snr_noisy_input"]
    return metrics


class AudioDenoiserObjective(Objective):
    recipe = {
        "dataset": "speech",  # the embedded 2 hours of speech (image datasets hold no audio)
        "noise": DEFAULT_NOISE,
        "batch_size": 16,  # one-second stereo segments: 16 s of audio a step
        "loss": "snr",  # measured: the U-Net at -8.3 dB SI-SDRi with l1_stft after 940 steps, +2.1 dB with snr
        "reverb": 0.25,  # a quarter of the segments in synthetic rooms
        "learning_rate": 3e-4,  # DEMUCS's Adam step
        "lr_scheduler": "cosine",  # decayed to 0 by the last step
        "lr_warmup_steps": 200,
        "max_steps": 11_000,  # docs/families/audio_denoiser.md: 55 minutes on one core here, 8.24 dB
        "epochs": 20,
        "mixed_precision": "auto",  # bf16 where the CPU or GPU computes it natively: convolutions run faster
    }

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if cfg.loss not in LOSSES:
            raise UserInputError(f"the audio denoiser's --loss is one of {LOSSES}, got {cfg.loss!r}")
        if not 0 <= cfg.reverb <= 1:
            raise UserInputError(f"--reverb is the share of segments reverberated, in [0, 1]; got {cfg.reverb}")
        self.mix = parse_noise_mix(cfg.noise or DEFAULT_NOISE)
        self.rate = data.options["sampling_rate"]
        options = cfg.model_kwargs()
        architecture = options.pop("architecture", DEFAULT_ARCHITECTURE)
        if architecture not in ARCHITECTURES:
            raise UserInputError(
                f"the audio denoiser's architecture is one of {list(ARCHITECTURES)} (--model_config "
                f"\"architecture='stft_mask'\"), got {architecture!r}"
            )
        if architecture == "stft_mask":
            options.setdefault("mask", DEFAULT_MASK)
        self.denoiser = build_model(
            ARCHITECTURES[architecture], cfg, options, audio_channels=data.options["channels"], sampling_rate=self.rate
        )
        self.models = {"denoiser": self.denoiser}

    @classmethod
    def data_options(cls, cfg: TrainConfig) -> dict:
        return {
            "sampling_rate": cfg.sampling_rate,
            "channels": cfg.channels or 2,
            "segment_seconds": cfg.segment_seconds,
            "audio_column": cfg.audio_column,
            "label_column": cfg.label_column,
        }

    def augment(self, batch: dict) -> dict:
        return batch  # the noise is the augmentation (`losses`); a left-right flip would swap the stereo sides

    def losses(self, batch, step):
        clean = waveforms(batch)  # (B, C, T)
        if self.cfg.reverb:
            clean = reverberate(clean, self.rate, self.cfg.reverb)
        noisy, _ = self.mix(clean, self.rate)
        out = self.models["denoiser"](noisy).sample.float()
        yield "denoiser", waveform_loss(self.cfg.loss, out, clean)

    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        return evaluate_denoiser(self.models["denoiser"], loader, accelerator, self.mix, self.rate)

    @torch.no_grad()
    def _examples(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        clean = waveforms(batch)[:PICTURED]
        noisy, _ = self.mix(clean, self.rate, torch.Generator(device=clean.device).manual_seed(0))
        return noisy.clamp(-1, 1), self.models["denoiser"](noisy).sample.float().clamp(-1, 1), clean

    def picture(self, batch) -> torch.Tensor:
        """Spectrograms of noisy inputs, their denoised outputs and the clean segments, one row each."""
        return torch.stack([spectrogram_images(w, self.rate) for w in self._examples(batch)])  # (3, N, 3, F, frames)

    def sounds(self, batch) -> tuple[dict[str, np.ndarray], int]:
        noisy, denoised, clean = (w[0].mean(0).cpu().numpy() for w in self._examples(batch))  # mono mixes (T,)
        return {"noisy": noisy, "denoised": denoised, "clean": clean}, self.rate

    def pipeline(self, accelerator: Accelerator) -> AudioDenoisingPipeline:
        return AudioDenoisingPipeline(denoiser=accelerator.unwrap_model(self.models["denoiser"]))

    def card_info(self):
        c = self.denoiser.config
        layout = "stereo" if c.audio_channels == 2 else "mono"
        kind = type(self.denoiser).__name__
        if kind == "SpectralMaskNet":
            size = f"{c.mask} mask, n_fft {c.n_fft}, hop {c.hop_length}, GRU {c.gru_layers} x {c.hidden_size}"
        else:
            size = f"widths {tuple(c.block_out_channels)}"
            if kind == "WaveUNet":
                size = f"{'causal' if c.causal else 'non-causal'}, stride {c.stride}, {size}"
        return {
            "tags": ["audio", "speech-enhancement", "denoising", self.name],
            "description": f"{kind} ({layout}, {c.sampling_rate} Hz, {size})",
            "main_metric": "si_sdr_improvement",
            "hyperparameters": ["sampling_rate", "segment_seconds"],
        }


def evaluate_pipeline(pipe: AudioDenoisingPipeline, loader, accelerator: Accelerator, noise: str | None) -> dict:
    """`genzoo evaluate`: a saved denoiser's held-out SI-SDR and SNR with `--noise` (default: the training mix)."""
    model = pipe.denoiser.to(accelerator.device).eval()
    return evaluate_denoiser(
        model, loader, accelerator, parse_noise_mix(noise or DEFAULT_NOISE), model.config.sampling_rate
    )


def denoise(pipe: AudioDenoisingPipeline, waves: torch.Tensor) -> torch.Tensor:
    return pipe(waves, batch_size=len(waves)).audio


def example_waves(pipe: AudioDenoisingPipeline, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """`n` one-second noisy-looking waveforms `(n, C, rate)` at the model's rate (uniform noise in [-0.5, 0.5]), on
    the CPU: the pipeline takes waveforms from anywhere and denoises them on its own device."""
    c = pipe.denoiser.config
    shape = (n, c.audio_channels, c.sampling_rate)
    return torch.rand(shape, generator=generator, device="cpu", dtype=torch.float32) - 0.5
