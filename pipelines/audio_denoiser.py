"""`AudioDenoisingPipeline`: denoise a waveform of any length, rate and layout with a trained `AudioDenoisingAE`."""

import os
from dataclasses import dataclass

import numpy as np
import torch
from diffusers.utils import BaseOutput

from hf_genzoo.errors import UserInputError
from hf_genzoo.models.audio_denoiser import AudioDenoisingAE, SpectralMaskNet, WaveUNet
from hf_genzoo.sound import check_rate, resample_blocks, resampled_length

from .pipeline_base import GenzooPipeline

AudioInput = str | os.PathLike | np.ndarray | torch.Tensor


@dataclass
class AudioDenoisingPipelineOutput(BaseOutput):
    """
    Args:
        audio (`np.ndarray` or `torch.Tensor`):
            The denoised waveform in the input's layout (`(T,)`, `(T, C)`, `(C, T)` or `(B, C, T)`), length and type
            (a tensor for a tensor, else a float32 array), at `sampling_rate`, clipped to [-1, 1].
        sampling_rate (`int`):
            Its rate: the input's.
    """

    audio: np.ndarray | torch.Tensor
    sampling_rate: int


def check_audio_file(path: str | os.PathLike):
    """`soundfile.info` of a file the pipeline can denoise; a clear error for one it cannot read or take."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError, TypeError) as err:  # soundfile's LibsndfileError is a RuntimeError
        raise UserInputError(f"{path}: cannot read it as audio ({err})") from None
    if info.frames == 0:
        raise UserInputError(f"{path}: the file holds no audio (0 frames)")
    if info.channels > 2:
        raise UserInputError(f"{path}: it has {info.channels} channels; mono and stereo files are supported")
    return info


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A file as float32 `(T, C)` and its rate, with `soundfile`; a clear error for a file that cannot be read."""
    import soundfile as sf

    check_audio_file(path)
    return sf.read(str(path), dtype="float32", always_2d=True)


class AudioDenoisingPipeline(GenzooPipeline):
    r"""
    Pipeline for waveform denoising with a [`WaveUNet`] or an [`AudioDenoisingAE`].

    ```py
    >>> from hf_genzoo import AudioDenoisingPipeline
    >>> pipe = AudioDenoisingPipeline.from_pretrained("genzoo-output")
    >>> out = pipe("noisy.wav")                                   # a path: read with soundfile
    >>> out.audio.shape, out.sampling_rate                        # (T, C) as the file holds it, its rate
    >>> clean = pipe(noisy_array, sampling_rate=44_100).audio     # (T,), (T, 2), (2, T) or (B, C, T)
    ```

    Long inputs are denoised in overlapping chunks whose outputs are cross-faded (windowed overlap-add), so memory
    stays bounded whatever the length.

    Args:
        denoiser ([`SpectralMaskNet`], [`WaveUNet`] or [`AudioDenoisingAE`]): the trained model.
    """

    model_cpu_offload_seq = "denoiser"

    def __init__(self, denoiser: SpectralMaskNet | WaveUNet | AudioDenoisingAE):
        super().__init__()
        self.register_modules(denoiser=denoiser)

    # 1. any input -> a reader of float32 (B, C, b - a) blocks at its own rate, and the layout to give back
    def _open(self, audio: AudioInput, sampling_rate: int | None):
        """(read, (B, C, T), rate, (layout, like)): `read(a, b)` gives samples a..b-1 of every clip and channel, so
        that a long file is read (and resampled) a block at a time and never held whole at its own rate."""
        if isinstance(audio, (str, os.PathLike)):
            import soundfile as sf

            info = check_audio_file(audio)
            if sampling_rate is not None and sampling_rate != info.samplerate:
                raise UserInputError(f"{audio} is at {info.samplerate} Hz; leave sampling_rate out for a file")

            def read_file(a: int, b: int) -> np.ndarray:
                with sf.SoundFile(str(audio)) as f:
                    f.seek(a)
                    return f.read(b - a, dtype="float32", always_2d=True).T[None]  # (1, C, b - a)

            return read_file, (1, info.channels, info.frames), info.samplerate, ("TC", None)
        rate = self.denoiser.config.sampling_rate if sampling_rate is None else check_rate(sampling_rate)
        like = audio if isinstance(audio, torch.Tensor) else None  # a tensor comes back on its device, in its dtype
        x = audio.detach().cpu().numpy() if like is not None else np.asarray(audio)
        if x.ndim == 1:
            x, layout = x[None, None], "T"
        elif x.ndim == 2 and x.shape[0] <= 2 < x.shape[1]:
            x, layout = x[None], "CT"
        elif x.ndim == 2 and x.shape[1] <= 2:
            x, layout = x.T[None], "TC"
        elif x.ndim == 3 and x.shape[1] <= 2:
            layout = "BCT"
        else:
            raise UserInputError(
                f"AudioDenoisingPipeline takes waveforms (T,), (T, C), (C, T) or (B, C, T) with C = 1 or 2 "
                f"channels, or a path; got an array of shape {x.shape}"
            )
        if x.shape[-1] == 0:
            raise UserInputError("the waveform holds no samples")
        integer = np.issubdtype(x.dtype, np.integer)  # PCM samples (e.g. int16 from scipy.io.wavfile): to [-1, 1]
        if not integer and not np.isfinite(x).all():
            raise UserInputError("the waveform holds NaN or infinite values")
        scale = 1 / np.iinfo(x.dtype).max if integer else 1.0

        def read_array(a: int, b: int) -> np.ndarray:
            block = x[..., a:b].astype(np.float32)  # (B, C, b - a), a copy of this block only
            return block * np.float32(scale) if integer else block

        return read_array, x.shape, rate, (layout, like)

    @staticmethod
    def _output(shape: tuple, how) -> tuple[np.ndarray, np.ndarray]:
        """The float32 result in the input's layout, and a `(B, C, T)` view of it to resample into."""
        (b, c, t), (layout, _) = shape, how
        if layout == "T":
            out = np.zeros(t, dtype=np.float32)
            return out, out[None, None]
        if layout == "TC":
            out = np.zeros((t, c), dtype=np.float32)  # written in place through its transpose: no copy to turn it
            return out, out.T[None]
        out = np.zeros((c, t) if layout == "CT" else (b, c, t), dtype=np.float32)
        return out, out.reshape(b, c, t)

    # 2. the model over one stretch (B, C, T) at its rate
    @torch.no_grad()
    def _denoise(self, x: np.ndarray, chunk: int, overlap: int, batch_size: int) -> np.ndarray:
        """Windowed overlap-add: chunks of `chunk` samples every `chunk - overlap`; each output is weighted by a
        window that rises over the first `overlap` samples and falls over the last (flat at a stretch's own ends),
        and the sum is divided by the summed windows, so where chunks agree the result is theirs exactly."""
        model, c = self.denoiser, self.denoiser.config.audio_channels
        b, c_in, t = x.shape
        if c_in != c:  # a mono clip through a stereo model: both sides alike; stereo through a mono one: each side
            x = np.repeat(x, 2, axis=1) if c == 2 else x.reshape(b * c_in, 1, t)
        n = min(chunk, t)
        starts = [0]  # every start on the block grid, so that each chunk meets the model's strides in phase
        while starts[-1] + n < t:
            starts.append(starts[-1] + n - overlap)
        ramp = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / max(overlap, 1)) ** 2  # rises; ramp + ramp[::-1] = 1
        out = np.zeros(x.shape, dtype=np.float32)  # (B', C, T)
        weight = np.zeros(t, dtype=np.float32)
        device, dtype = self._execution_device, model.dtype
        pending = [(i, s) for i in range(len(x)) for s in starts]
        for first in range(0, len(pending), batch_size):
            group = pending[first : first + batch_size]
            pieces = [x[i, :, s : s + n] for i, s in group]  # (C, n) each; the last of a stretch may be shorter
            y = [None] * len(group)
            for m in {p.shape[-1] for p in pieces}:  # a short last chunk goes alone: padded as the whole file is
                same = [j for j, p in enumerate(pieces) if p.shape[-1] == m]
                batch = torch.from_numpy(np.stack([pieces[j] for j in same])).to(device, dtype)  # (g, C, m)
                for j, out_j in zip(same, model(batch).sample.float().cpu().numpy(), strict=True):
                    y[j] = out_j
            for (i, s), piece in zip(group, y, strict=True):
                m = piece.shape[-1]
                w = np.ones(n, dtype=np.float32)
                if s > 0:
                    w[:overlap] = ramp
                if s + n < t:
                    w[n - overlap :] = ramp[::-1]
                out[i, :, s : s + m] += piece[:, :m] * w[:m]
                if i == 0:
                    weight[s : s + m] += w[:m]
        out /= weight
        if c_in != c:
            out = out.mean(1, keepdims=True) if c == 2 else out.reshape(b, c_in, t)
        return out

    def __call__(
        self,
        audio: AudioInput,
        sampling_rate: int | None = None,
        *,
        chunk_seconds: float = 4.0,
        overlap_seconds: float = 0.25,
        batch_size: int = 8,
        return_dict: bool = True,
    ):
        r"""
        Denoise `audio`.

        Args:
            audio (`str`, `os.PathLike`, `np.ndarray` or `torch.Tensor`): a file that `soundfile` reads (wav, flac,
                ogg), or a waveform in [-1, 1]: `(T,)` mono, `(T, C)` or `(C, T)` with C = 1 or 2, or a batch
                `(B, C, T)`.
            sampling_rate (`int`, *optional*): the waveform's rate (default: the model's; a file's is read from it).
                Other rates than the model's are resampled to it with `scipy.signal.resample_poly`, and back.
            chunk_seconds (`float`, *optional*, defaults to 4.0): longer inputs are denoised in chunks this long.
            overlap_seconds (`float`, *optional*, defaults to 0.25): how much neighbouring chunks overlap (their
                outputs are cross-faded there).
            batch_size (`int`, *optional*, defaults to 8): chunks per forward pass.
            return_dict (`bool`, *optional*, defaults to `True`): an `AudioDenoisingPipelineOutput`, or a tuple.
        """
        if batch_size < 1 or not chunk_seconds > 0 or not overlap_seconds >= 0:
            raise UserInputError(
                f"batch_size must be 1 or more, chunk_seconds above 0 and overlap_seconds 0 or more; got "
                f"{batch_size}, {chunk_seconds} and {overlap_seconds}"
            )
        rate, block = self.denoiser.config.sampling_rate, self.denoiser.block_size
        chunk = max(block, round(chunk_seconds * rate) // block * block)  # on the block grid: hops keep the phase
        overlap = min(chunk // 2, round(overlap_seconds * rate)) // block * block  # on the grid too
        read, (b, c, length), in_rate, how = self._open(audio, sampling_rate)
        # 1. to the model's rate, block by block: (B, C, T') float32; the input at its own rate is never copied whole
        if in_rate == rate:
            x = read(0, length)
        else:
            x = np.empty((b, c, resampled_length(length, in_rate, rate)), dtype=np.float32)
            resample_blocks(read, length, in_rate, rate, x)
        # 2. denoise at the model's rate, then 3. back to the input's rate and length, into the input's layout
        y = self._denoise(x, chunk, overlap, batch_size)  # (B, C, T')
        del x
        result, view = self._output((b, c, length), how)
        if in_rate == rate:
            view[...] = y
        else:
            resample_blocks(lambda i, j: y[..., i:j], y.shape[-1], rate, in_rate, view)
        np.clip(result, -1, 1, out=result)
        self.maybe_free_model_hooks()
        like = how[1]
        if like is not None:  # a tensor comes back on its device, in its dtype
            result = torch.from_numpy(result).to(like.device, like.dtype if like.is_floating_point() else torch.float32)
        return AudioDenoisingPipelineOutput(audio=result, sampling_rate=in_rate) if return_dict else (result, in_rate)
