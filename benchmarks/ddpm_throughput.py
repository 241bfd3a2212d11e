"""DDPM training speed: the one loop against diffusers' own example data path, same UNet, batch and machine.

    python benchmarks/ddpm_throughput.py --update_readme     # fashion_mnist, ~15 minutes on 2 CPU cores
    python benchmarks/ddpm_throughput.py --quick             # digits, a tiny UNet: checks that it runs

The baseline is the hot loop of diffusers' examples/unconditional_image_generation/train_unconditional.py as
its README runs it (`--use_ema`, fp32, `--dataloader_num_workers 0`): the images as PNG-encoded `datasets.Image`
cells (as the Hub stores fashion_mnist), a per-sample `set_transform` (resize, centre crop, to tensor,
normalize; the example's torchvision transforms done with PIL and numpy, as torchvision is not a dependency
here), a shuffled DataLoader, AdamW's default kernel, grad-norm clipping, `EMAModel.step` and `loss.item()`
with a tracker log every step. It keeps one difference so the UNet is the same: images stay grey (the example
converts to RGB, a 3-channel UNet). Ours is `train()` exactly as `genzoo train ddpm` runs it, first at the
example's precision (fp32), then with its defaults (`--mixed_precision auto`: bf16 autocast where the CPU has
AVX-512 BF16 or AMX).
Each measurement is images/s over --steps optimizer steps after WARMUP_STEPS (10) warm-up steps; the loops run
--rounds times in rotating order; medians. The last rows time the bare UNet step (random data, no loop, 3 warm-up
steps) in fp32, bf16 and bf16 with channels_last memory format, to show what each lever gives on this machine.
"""

import argparse
import io
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration
from datasets import Dataset, Features, Image
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from report import publish
from tqdm.auto import tqdm

from hf_genzoo.compat import reset_accelerate_state
from hf_genzoo.data import load_images
from hf_genzoo.models.unet import TINY_UNET, as_model_config, unet_for_images
from hf_genzoo.training import make_config, train
from hf_genzoo.training.config import resolve_mixed_precision
from hf_genzoo.training.loop import WARMUP_STEPS

HERE = Path(__file__).resolve().parent
BARE_WARMUP_STEPS = 3  # a bare step has no data loader or tracker to warm up


def png_dataset(images: np.ndarray) -> Dataset:
    """uint8 `(N, 1, H, W)` -> a `datasets.Dataset` of PNG-encoded `Image` cells, as a Hub image dataset is."""
    cells = []
    for x in images:
        buf = io.BytesIO()
        PIL.Image.fromarray(np.asarray(x[0])).save(buf, format="PNG")
        cells.append({"bytes": buf.getvalue(), "path": None})
    return Dataset.from_dict({"image": cells}, features=Features({"image": Image()}))


def example_transform(resolution: int):
    """train_unconditional.py's per-sample augmentations: Resize (bilinear), CenterCrop, ToTensor,
    Normalize(0.5, 0.5)."""

    def one(image: PIL.Image.Image) -> torch.Tensor:
        image = image.convert("L")
        w, h = image.size
        scale = resolution / min(w, h)  # Resize(int): the short side to `resolution`
        image = image.resize((round(w * scale), round(h * scale)), PIL.Image.BILINEAR)
        w, h = image.size
        left, top = (w - resolution) // 2, (h - resolution) // 2
        image = image.crop((left, top, left + resolution, top + resolution))
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255)[None]  # ToTensor: (1, H, W) in [0, 1]
        return (x - 0.5) / 0.5

    def transform_images(examples):
        return {"input": [one(image) for image in examples["image"]]}

    return transform_images


def example_images_per_second(
    dataset: Dataset, resolution: int, unet_kwargs: dict, batch_size: int, steps: int, workdir: Path
) -> float:
    """The example's loop (see the module docstring), timed like ours."""
    accelerator = Accelerator(
        mixed_precision="no",
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(workdir), logging_dir=str(workdir / "logs")),
    )
    torch.manual_seed(0)
    model = unet_for_images(1, resolution, **unet_kwargs)
    noise_scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", prediction_type="epsilon")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.95, 0.999), weight_decay=1e-6, eps=1e-8)
    dataset.set_transform(example_transform(resolution))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0)
    lr_scheduler = get_scheduler("cosine", optimizer=optimizer, num_warmup_steps=500, num_training_steps=10_000)
    model, optimizer, loader, lr_scheduler = accelerator.prepare(model, optimizer, loader, lr_scheduler)
    ema = EMAModel(
        model.parameters(),
        decay=0.9999,
        use_ema_warmup=True,
        inv_gamma=1.0,
        power=0.75,
        model_cls=UNet2DModel,
        model_config=model.config,
    )
    ema.to(accelerator.device)
    accelerator.init_trackers("train_unconditional")
    bar = tqdm(total=steps + WARMUP_STEPS, desc="diffusers example loop")
    step = 0
    while step < steps + WARMUP_STEPS:
        for batch in loader:
            if step == WARMUP_STEPS:
                start = time.perf_counter()
            clean_images = batch["input"]
            noise = torch.randn(clean_images.shape, device=clean_images.device)
            timesteps = torch.randint(
                0, noise_scheduler.config.num_train_timesteps, (len(clean_images),), device=clean_images.device
            ).long()
            noisy_images = noise_scheduler.add_noise(clean_images, noise, timesteps)
            with accelerator.accumulate(model):
                model_output = model(noisy_images, timesteps).sample
                loss = F.mse_loss(model_output.float(), noise.float())
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            if accelerator.sync_gradients:
                ema.step(model.parameters())
                bar.update(1)
                step += 1
            logs = {
                "loss": loss.detach().item(),
                "lr": lr_scheduler.get_last_lr()[0],
                "step": step,
                "ema_decay": ema.cur_decay_value,
            }
            bar.set_postfix(**logs)
            accelerator.log(logs, step=step)
            if step == steps + WARMUP_STEPS:
                break
    seconds = time.perf_counter() - start
    bar.close()
    accelerator.end_training()
    reset_accelerate_state()
    return steps * batch_size / seconds


def ours_images_per_second(
    dataset: str, mixed_precision: str, model_config: str, batch_size: int, steps: int, workdir: Path
) -> float:
    cfg = make_config(
        "ddpm",
        dataset=dataset,
        max_steps=steps + WARMUP_STEPS,
        batch_size=batch_size,
        mixed_precision=mixed_precision,
        model_config=model_config,
        output_dir=str(workdir),
        checkpointing_steps=0,
        eval_batches=1,
        overwrite_output_dir=True,  # a scratch folder, trained into once per round
    )
    return train(cfg).images_per_second


def bare_images_per_second(
    resolution: int, unet_kwargs: dict, batch_size: int, steps: int, bf16: bool, channels_last: bool
) -> float:
    """The UNet's training step alone on random data: what precision and memory format give by themselves."""
    torch.manual_seed(0)
    model = unet_for_images(1, resolution, **unet_kwargs)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    x = torch.randn(batch_size, 1, resolution, resolution).contiguous(memory_format=fmt)
    for step in range(steps + BARE_WARMUP_STEPS):
        if step == BARE_WARMUP_STEPS:
            start = time.perf_counter()
        t = torch.randint(0, 1000, (batch_size,))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x, t).sample
        loss = F.mse_loss(out.float(), x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps per measurement (default: 20)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="digits, a tiny UNet, 3 steps, 1 round")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument(
        "--loops", default=None, help="only these loops, comma-separated (default: all; e.g. example,ours_fp32)"
    )
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--output", default=str(HERE / "results" / "ddpm_throughput.md"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.dataset, args.steps, args.rounds, args.batch_size = "digits", 3, 1, 32
    unet_kwargs = TINY_UNET if args.quick else {}
    model_config = as_model_config(unet_kwargs)
    data = load_images(args.dataset, "train")
    resolution = data.resolution
    pil = png_dataset(np.asarray(data.images))
    default_precision = resolve_mixed_precision("auto")
    work = Path(tempfile.mkdtemp(prefix="genzoo-ddpm-speed-"))
    names = {
        "example": "diffusers example data path (`train_unconditional.py` loop)",
        "ours_fp32": "`train()`, fp32 (the example's precision)",
        "ours_default": f"`train()` with its defaults (`genzoo train ddpm`: {default_precision})",
        "bare_fp32": "bare UNet step, fp32",
        "bare_bf16": "bare UNet step, bf16 autocast",
        "bare_bf16_cl": "bare UNet step, bf16 autocast, channels_last",
    }
    results = {k: [] for k in names}
    b, s = args.batch_size, args.steps
    runs = {
        "example": lambda i: example_images_per_second(pil, resolution, unet_kwargs, b, s, work / f"example{i}"),
        "ours_fp32": lambda i: ours_images_per_second(args.dataset, "no", model_config, b, s, work / f"fp32_{i}"),
        "ours_default": lambda i: ours_images_per_second(args.dataset, "auto", model_config, b, s, work / f"auto_{i}"),
        "bare_fp32": lambda i: bare_images_per_second(resolution, unet_kwargs, b, s, False, False),
        "bare_bf16": lambda i: bare_images_per_second(resolution, unet_kwargs, b, s, True, False),
        "bare_bf16_cl": lambda i: bare_images_per_second(resolution, unet_kwargs, b, s, True, True),
    }
    order = args.loops.split(",") if args.loops else list(runs)
    unknown = set(order) - set(runs)
    if unknown:
        raise SystemExit(f"--loops: unknown {sorted(unknown)}; choose from {', '.join(runs)}")
    results = {k: results[k] for k in order}
    for r in range(args.rounds):
        for i in range(len(order)):
            key = order[(i + r) % len(order)]
            results[key].append(runs[key](r))
        print({k: [round(v, 1) for v in vs] for k, vs in results.items()}, flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    n_params = sum(p.numel() for p in unet_for_images(1, resolution, **unet_kwargs).parameters())
    lines = [
        f"UNet2DModel ({n_params / 1e6:.1f}M parameters, "
        f"{'a tiny one' if args.quick else 'the `genzoo train ddpm` default'} for {resolution}x{resolution}), "
        f"`{args.dataset}`, batch {b}, {s} timed steps after {WARMUP_STEPS} warm-up steps, {args.rounds} rounds in "
        f"rotating order, medians ({platform.machine()}, {torch.get_num_threads()} threads):",
        "",
        "| loop | images/s | / example |",
        "|---|---|---|",
    ]
    for key in [k for k in ("example", "ours_fp32", "ours_default") if k in med]:
        ratio = med[key] / med["example"]
        lines.append(
            f"| {names[key]} | {med[key]:.1f} | {'**' if key != 'example' else ''}{ratio:.2f}x"
            f"{'**' if key != 'example' else ''} |"
        )
    bare = [k for k in ("bare_fp32", "bare_bf16", "bare_bf16_cl") if k in med]
    if bare:
        lines += ["", "| bare step (no data, no loop) | images/s | / fp32 |", "|---|---|---|"]
    for key in bare:
        lines.append(f"| {names[key]} | {med[key]:.1f} | {med[key] / med[bare[0]]:.2f}x |")
    publish(
        "\n".join(lines),
        {"results": results, "medians": med},
        args.output,
        "ddpm_throughput" if args.update_readme else None,
    )


if __name__ == "__main__":
    main()
