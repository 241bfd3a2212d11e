"""`genzoo denoise`: an audio file through a trained audio denoiser, at the input's length, rate and layout."""

import time
from pathlib import Path

import soundfile as sf
import torch

from ..errors import UserInputError
from ..hub.loading import load_pipeline
from ..registry import families, family_of


def denoise_command_parser(subparsers):
    p = subparsers.add_parser(
        "denoise",
        help="denoise an audio file with a trained audio denoiser",
        description="Denoise an audio file (wav, flac, ogg: what soundfile reads) with a model trained by `genzoo "
        "train audio_denoiser`. The output keeps the input's length, sampling rate, channels and sample format; "
        "long files go through in overlapping chunks, so memory stays bounded.",
    )
    p.add_argument("input", help="the noisy audio file")
    p.add_argument("output", help="where the denoised file goes (its suffix picks the format: .wav, .flac, .ogg)")
    p.add_argument("--model", required=True, help="folder (or Hub repo id) of a `genzoo train audio_denoiser` model")
    p.add_argument("--chunk_seconds", type=float, default=4.0, help="seconds per chunk of a long file (default: 4)")
    p.add_argument("--batch_size", type=int, default=8, help="chunks per forward pass (default: 8)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    p.set_defaults(func=denoise_command)
    return p


def denoise_command(args) -> None:
    """Denoise an audio file with a trained audio denoiser; write the result at the input's rate and layout."""
    source, target = Path(args.input), Path(args.output)
    if not source.is_file():
        raise UserInputError(f"{source}: no such file")
    formats = sf.available_formats()  # e.g. {"WAV": ..., "FLAC": ..., "OGG": ...}
    if target.suffix[1:].upper() not in formats:
        raise UserInputError(f"{target}: give the output a suffix soundfile writes ({', '.join(sorted(formats))})")
    pipe = load_pipeline(args.model)
    family = family_of(pipe)
    if family.data_kind != "audio":
        able = [name for name, f in families().items() if f.data_kind == "audio"]
        raise UserInputError(f"genzoo denoise needs an audio model ({', '.join(able)}); got {type(pipe).__name__}")
    if torch.cuda.is_available() and not args.cpu:
        pipe.to("cuda")
    pipe.set_progress_bar_config(disable=True)
    subtype = sf.info(str(source)).subtype
    t = time.perf_counter()
    out = pipe(str(source), chunk_seconds=args.chunk_seconds, batch_size=args.batch_size)
    seconds = time.perf_counter() - t
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        sf.write(str(target), out.audio, out.sampling_rate, subtype=subtype)
    except (ValueError, TypeError, RuntimeError):  # the output's format has no such subtype (e.g. flac in, wav out)
        sf.write(str(target), out.audio, out.sampling_rate)
    length = len(out.audio) / out.sampling_rate
    print(
        f"wrote {target}: {length:.1f} s, {out.audio.shape[1]} channel(s) at {out.sampling_rate} Hz, denoised in "
        f"{seconds:.1f} s (real-time factor {seconds / max(length, 1e-9):.2f})"
    )
