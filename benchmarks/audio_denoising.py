"""The audio denoiser against classical denoisers on the held-out embedded speech, per input-SNR bucket.

    python benchmarks/audio_denoising.py --model DIR --update_readme    # a `genzoo train audio_denoiser` folder
    python benchmarks/audio_denoising.py --steps 600                      # trains the default model first
    python benchmarks/audio_denoising.py --quick                          # a tiny model, a few clips: checks it runs

Quality: every clip of the `speech` test split (2 s segments), mixed once per bucket (-5..0, 0..5, 5..10, 10..20 dB)
with a noise kind and an SNR drawn uniformly in the bucket (`NoiseMix`, seeded; babble from the other test clips),
then denoised by (a) nothing (the noisy input), (b) spectral subtraction, (c) a Wiener filter (both
`hf_genzoo.audio_baselines`, STFT via scipy, noise estimated from the mixture) and (d) the model. Scores per
mixture, averaged over channels: SI-SDR improvement over the noisy input, wide-band PESQ, STOI; the table holds
the bucket means.

Speed: the real-time factor (seconds of compute per second of audio) of the pipeline on a 60 s stereo 16 kHz clip,
median of --repeats runs with --rtf_threads torch threads (default 1), in fp32 and with bf16 weights, and the GFLOP/s
that makes (the model's `flops`). Latency: how far ahead of an output sample the network reads (the support of its
gradient, measured), in samples and ms. Training time: steps x batch / the training throughput in metrics.json.
Memory: the peak resident memory of `genzoo denoise` on a 10-minute stereo 48 kHz file, in a fresh process, beside
that of a process that only loads the pipeline.

Writes benchmarks/results/audio_denoising.md (+ .json) and the spectrogram figure audio_denoising.png; with
--update_readme the table goes between the `<!-- audio_denoising -->` markers of its docs page.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from report import publish
from tqdm.auto import tqdm

from hf_genzoo.audio_baselines import spectral_subtraction, wiener_filter
from hf_genzoo.data import load_data
from hf_genzoo.data.audio_noise import KINDS, NoiseMix
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.metrics import pesq_wb, si_sdr, stoi
from hf_genzoo.sound import INT16_SCALE
from hf_genzoo.training import make_config, train

HERE = Path(__file__).resolve().parent
BUCKETS = ((-5, 0), (0, 5), (5, 10), (10, 20))
TARGET_SI_SDRI = 8.0  # dB, the mean over the 0..5 and 5..10 buckets
NOISE_SEED = 2024


def mixtures(clean: torch.Tensor, rate: int) -> list[dict]:
    """Each clean clip `(N, C, T)` mixed once per bucket: `[{bucket, kind, snr, clean, noisy}]` (numpy `(C, T)`)."""
    out = []
    for b, (lo, hi) in enumerate(BUCKETS):
        for k, kind in enumerate(KINDS):  # every kind in every bucket, on its own share of the clips
            share = clean[k :: len(KINDS)]
            if len(share) == 0:
                continue
            g = torch.Generator().manual_seed(NOISE_SEED + 10 * b + k)
            source = clean if kind == "babble" else share  # babble is made of the other clips of the batch
            noisy, snr = NoiseMix((kind,), lo, hi)(source, rate, g)
            if kind == "babble":
                noisy, snr = noisy[k :: len(KINDS)], snr[k :: len(KINDS)]
            for c, x, s in zip(share.numpy(), noisy.numpy(), snr.tolist(), strict=True):
                out.append({"bucket": f"{lo}..{hi}", "kind": kind, "snr": s, "clean": c, "noisy": x})
    return out


def score(estimate: np.ndarray, clean: np.ndarray, noisy: np.ndarray, rate: int) -> dict:
    return {
        "si_sdri": float(si_sdr(estimate, clean).mean() - si_sdr(noisy, clean).mean()),
        "pesq": pesq_wb(estimate, clean, rate),
        "stoi": stoi(estimate, clean, rate),
    }


def spectrogram_figure(example: dict, estimates: dict, rate: int, path: Path) -> None:
    """Noisy, each method's output and the clean clip as spectrograms, one panel each (left channel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {"noisy input": example["noisy"], **estimates, "clean": example["clean"]}
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 1.9 * len(panels)), sharex=True)
    for ax, (name, wave) in zip(axes, panels.items(), strict=True):
        ax.specgram(wave[0], NFFT=512, Fs=rate, noverlap=384, cmap="magma", vmin=-120, vmax=-20)
        ax.set_ylabel("Hz")
        ax.set_title(name, fontsize=9, loc="left")
    axes[-1].set_xlabel("seconds")
    fig.suptitle(f"a held-out clip with {example['kind']} noise at {example['snr']:.1f} dB", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def real_time_factor(pipe, seconds: float, repeats: int) -> dict:
    rate = pipe.denoiser.config.sampling_rate
    clip = (0.1 * torch.randn(2, round(seconds * rate), generator=torch.Generator().manual_seed(0))).numpy()
    pipe(clip[:, :rate])  # warm-up
    model = pipe.denoiser
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        pipe(clip)
        times.append(time.perf_counter() - t)
    median = float(np.median(times))
    return {"rtf": median / seconds, "gflops": model.flops(clip.shape[1]) / median / 1e9, "times": times}


# The peak resident set of this process alone: /proc's VmHWM starts afresh at exec, while getrusage's ru_maxrss keeps
# the parent's peak across fork and exec.
MEMORY_CHILD = """
import sys
from hf_genzoo.hub.loading import load_pipeline
pipe = load_pipeline(sys.argv[1])
if sys.argv[2] == "denoise":
    import soundfile as sf
    out = pipe(sys.argv[3])
    sf.write(sys.argv[4], out.audio, out.sampling_rate, subtype="PCM_16")
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))  # KiB
"""


def peak_memory(model_dir: str, minutes: float, work: Path) -> dict:
    """Peak RSS (MiB) of a fresh process that denoises a `minutes`-long stereo 48 kHz file, and of one that only
    loads the pipeline."""
    import soundfile as sf

    path, rate = work / "long.wav", 48_000
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", rate, 2, subtype="PCM_16") as f:  # written a minute at a time
        left = round(minutes * 60 * rate)
        while left > 0:
            n = min(60 * rate, left)
            f.write((0.1 * rng.standard_normal((n, 2))).astype(np.float32))
            left -= n
    peaks = {}
    for what in ("load", "denoise"):
        args = [sys.executable, "-c", MEMORY_CHILD, model_dir, what, str(path), str(work / "out.wav")]
        proc = subprocess.run(args, capture_output=True, text=True, check=True)
        peaks[what] = int(proc.stdout.strip().splitlines()[-1]) / 1024
    seconds = sf.info(str(path)).duration
    return {"seconds": seconds, "peak_mib": peaks["denoise"], "load_only_mib": peaks["load"]}


def support(model) -> tuple[int, int]:
    """(receptive field, lookahead) in samples: how many input samples one output sample depends on, and how far
    ahead of it the furthest lies; the largest over one block of output positions (the support of the gradient)."""
    config = {**model.config}
    if "normalize" in config:  # the clip's standard deviation touches every sample: the network's own support
        config["normalize"] = False
    model = type(model).from_config(config)  # fp32 and fresh: any weights give the same support
    block = model.block_size
    length = 16 * block + 4096
    x = torch.randn(1, model.config.audio_channels, length, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    out = model(x).sample[0, 0]
    field = ahead = 0
    for t in range(length // 2, length // 2 + min(block, 64)):
        (grad,) = torch.autograd.grad(out[t], x, retain_graph=True)
        touched = (grad[0].abs().sum(0) > 0).nonzero()
        field, ahead = max(field, int(touched.max() - touched.min() + 1)), max(ahead, int(touched.max()) - t)
    return field, ahead


def training_minutes(folder: str) -> float:
    """Steps x batch / the training throughput that metrics.json records (the evaluations not counted)."""
    metrics = json.loads((Path(folder) / "metrics.json").read_text())
    batch = json.loads((Path(folder) / "train_config.json").read_text())["batch_size"]
    return metrics["steps"] * batch / metrics["train_images_per_second"] / 60


def describe(pipe, folder: str) -> str:
    """A model's row label: its architecture and size, and its training steps."""
    c, model = pipe.denoiser.config, pipe.denoiser
    steps = (
        json.loads((Path(folder) / "metrics.json").read_text())["steps"]
        if Path(folder, "metrics.json").exists()
        else "?"
    )
    if type(model).__name__ == "AudioDenoisingAE":
        kind = "classic" if tuple(c.block_out_channels) == (256, 512, 1024) and c.kernel_size == 3 else "configured"
        what = (
            f"{kind} stack: widths {tuple(c.block_out_channels)}, k={c.kernel_size}{', residual' if c.residual else ''}"
        )
    elif type(model).__name__ == "WaveUNet":
        causal = "causal" if c.causal else "non-causal"
        what = f"U-Net ({causal}): widths {tuple(c.block_out_channels)}, LSTM {c.lstm_layers}"
    else:
        kind = "complex" if c.get("mask") == "complex" else "magnitude"  # configs saved before the option: magnitude
        what = f"STFT {kind} mask: n_fft {c.n_fft}, GRU {c.gru_layers}x{c.hidden_size}"
    return f"ours, {what}, {steps} steps"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        help="a trained audio denoiser; repeat for more rows (default: train one)",
    )
    parser.add_argument("--steps", type=int, default=600, help="training steps when no --model is given")
    parser.add_argument("--work_dir", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the real-time factor")
    parser.add_argument("--rtf_threads", type=int, default=1, help="torch threads while the real-time factor is timed")
    parser.add_argument("--rtf_seconds", type=float, default=60.0)
    parser.add_argument("--memory_minutes", type=float, default=10.0)
    parser.add_argument("--output", default=str(HERE / "results" / "audio_denoising.md"))
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument(
        "--clips", type=int, default=None, help="score this many held-out 2 s clips, evenly spaced (default: all)"
    )
    parser.add_argument("--dataset", default="speech", help="the held-out set: the test split of this audio dataset")
    parser.add_argument(
        "--quick", action="store_true", help="a tiny model, 10 clips of speech-mini, short timing and memory runs"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="genzoo-audio-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.dataset = "speech-mini"
        args.steps, args.rtf_seconds, args.memory_minutes, args.repeats = 20, 2.0, 0.1, 1
    if args.model is None:
        cfg = make_config(
            "audio_denoiser",
            output_dir=str(work / "denoiser"),
            max_steps=args.steps,
            checkpointing_steps=0,
            report_to="none",
            overwrite_output_dir=True,
            dataset=args.dataset,
            **(
                {"model_config": "architecture='unet',block_out_channels=(8, 16)", "batch_size": 8}
                if args.quick
                else {}
            ),
        )
        args.model = [str(train(cfg).output_dir)]
    pipes = {}
    for folder in args.model:
        pipe = load_pipeline(folder)
        pipe.set_progress_bar_config(disable=True)
        pipes[describe(pipe, folder)] = (pipe, folder)
    first = next(iter(pipes.values()))[0].denoiser.config
    rate = first.sampling_rate

    # 1. quality, per bucket
    test = load_data(
        "audio", args.dataset, "test", sampling_rate=rate, channels=first.audio_channels, segment_seconds=2.0
    )
    clean = torch.from_numpy(np.asarray(test.arrays["audio_values"], dtype=np.float32) / INT16_SCALE)  # (N, C, T)
    if args.quick:
        args.clips = 10
    if args.clips and args.clips < len(clean):  # evenly spaced: every source, voice and sentence kind in turn
        clean = clean[np.linspace(0, len(clean) - 1, args.clips).round().astype(int)]
    mixed = mixtures(clean, rate)
    methods = {
        "noisy input": lambda x: x,
        "spectral subtraction": lambda x: spectral_subtraction(x, rate),
        "Wiener filter": lambda x: wiener_filter(x, rate),
        **{name: (lambda x, p=pipe: p(x).audio) for name, (pipe, _) in pipes.items()},
    }
    ours = list(pipes)
    rows = []
    for m in tqdm(mixed, desc="scoring mixtures"):
        for name, fn in methods.items():
            scores = score(fn(m["noisy"]), m["clean"], m["noisy"], rate)
            rows.append({"method": name, "bucket": m["bucket"], "kind": m["kind"], "snr": m["snr"], **scores})
    example = mixed[0] if args.quick else next(m for m in mixed if m["bucket"] == "0..5" and m["kind"] == "pink")
    estimates = {n: fn(example["noisy"]) for n, fn in methods.items() if n != "noisy input"}
    spectrogram_figure(example, estimates, rate, Path(args.output).with_suffix(".png"))

    def mean(method, bucket, key):
        values = [r[key] for r in rows if r["method"] == method and r["bucket"] == bucket]
        return float(np.nanmean(values)) if values else float("nan")

    buckets = [f"{lo}..{hi}" for lo, hi in BUCKETS]
    table = {(m, b): {k: mean(m, b, k) for k in ("si_sdri", "pesq", "stoi")} for m in methods for b in buckets}
    counts = {b: sum(1 for m in mixed if m["bucket"] == b) for b in buckets}

    # 2. speed of each model, memory of the first
    rtf, supports, minutes = {}, {}, {}
    threads = torch.get_num_threads()
    for name, (pipe, folder) in pipes.items():
        half = type(pipe).from_pretrained(folder, dtype=torch.bfloat16)  # bf16 weights, as a user loads them
        half.set_progress_bar_config(disable=True)
        torch.set_num_threads(args.rtf_threads)
        rtf[name] = {
            "fp32": real_time_factor(pipe, args.rtf_seconds, args.repeats),
            "bf16": real_time_factor(half, args.rtf_seconds, args.repeats),
        }
        torch.set_num_threads(threads)
        supports[name] = support(pipe.denoiser)
        minutes[name] = training_minutes(folder) if Path(folder, "train_config.json").exists() else float("nan")
    memory = peak_memory(args.model[0], args.memory_minutes, work)

    # 3. the verdict and the table
    def verdict(name):
        beats = all(
            table[(name, b)][key] > max(table[(m, b)][key] for m in ("spectral subtraction", "Wiener filter"))
            for b in buckets
            for key in ("si_sdri", "pesq")
        )
        return beats, float(np.mean([table[(name, b)]["si_sdri"] for b in ("0..5", "5..10")]))

    lines = [
        f"Held-out `{args.dataset}` (test split: sentences and voices never heard in training, {len(clean)} clips "
        f"of {clean.shape[-1] / rate:.0f} s, {first.audio_channels} channel(s), {rate} Hz), each mixed once per "
        "bucket with one noise kind (white, pink, brown, hum or babble, in turn) at an SNR drawn in the bucket. "
        f"Torch threads: {torch.get_num_threads()}.",
        "",
        "| input SNR (dB) | mixtures | method | SI-SDR improvement (dB) | PESQ (wb) | STOI |",
        "|---|---|---|---|---|---|",
    ]
    for b in buckets:
        for m in methods:
            v = table[(m, b)]
            lines.append(f"| {b} | {counts[b]} | {m} | {v['si_sdri']:.2f} | {v['pesq']:.2f} | {v['stoi']:.3f} |")
    lines.append("")
    for name, (pipe, folder) in pipes.items():
        beats, mid = verdict(name)
        fp32, half = rtf[name]["fp32"], rtf[name]["bf16"]
        field, ahead = supports[name]
        lines += [
            f"- **{name}** ({folder}; trained {minutes[name]:.0f} min): beats both classical denoisers on SI-SDR "
            f"and PESQ in every bucket: **{'yes' if beats else 'no'}**; mean SI-SDR improvement over the 0..10 dB "
            f"inputs **{mid:.2f} dB** (target {TARGET_SI_SDRI:.0f}: **{'met' if mid >= TARGET_SI_SDRI else 'missed'}**"
            f"{'' if mid >= TARGET_SI_SDRI else f', by {TARGET_SI_SDRI - mid:.2g} dB'}). Real-time factor on a "
            f"{args.rtf_seconds:.0f} s stereo clip at {rate} Hz with {args.rtf_threads} thread(s) (median of "
            f"{args.repeats}): fp32 **{fp32['rtf']:.3f}** ({fp32['gflops']:.0f} GFLOP/s), bf16 weights "
            f"**{half['rtf']:.3f}** ({half['gflops']:.0f} GFLOP/s; target below 0.1); "
            f"{pipe.denoiser.flops(rate) / 1e9:.2f} GFLOP per second of audio; receptive field {field} samples, "
            f"lookahead **{ahead} samples = {1000 * ahead / rate:.1f} ms**."
        ]
    lines.append(
        f"- Peak memory of denoising a {memory['seconds'] / 60:.0f}-minute stereo 48 kHz file with the first model "
        f"(`genzoo denoise`'s pipeline call, a fresh process): **{memory['peak_mib']:.0f} MiB** (loading the pipeline "
        f"alone: {memory['load_only_mib']:.0f} MiB)."
    )
    raw = {
        "table": {f"{m} | {b}": v for (m, b), v in table.items()},
        "counts": counts,
        "verdicts": {
            name: dict(zip(("beats_baselines_everywhere", "mean_si_sdri_0_10"), verdict(name), strict=True))
            for name in ours
        },
        "rtf": rtf,
        "support": supports,
        "training_minutes": minutes,
        "memory": memory,
        "rows": rows,
        "models": args.model,
    }
    publish("\n".join(lines), raw, args.output, "audio_denoising" if args.update_readme else None)


if __name__ == "__main__":
    main()
