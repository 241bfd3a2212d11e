"""Text-to-image training speed: the one loop against the hot loop of diffusers' `train_text_to_image.py`.

    python benchmarks/text2image_throughput.py --update_readme     # fashion_mnist, the default UNet
    python benchmarks/text2image_throughput.py --quick             # digits, tiny parts: checks that it runs

The baseline is the loop of diffusers' examples/text_to_image/train_text_to_image.py as its README runs it
(`--use_ema`, fp32, `--dataloader_num_workers 0`, `--center_crop`): the images as PNG-encoded `datasets.Image` cells
next to a `text` column (as a Hub dataset stores them), a per-batch `with_transform` (RGB conversion, resize, centre
crop, to tensor, normalize: the example's torchvision transforms done with PIL and numpy, as torchvision is not a
dependency here) that also tokenizes the captions, a shuffled DataLoader with its `collate_fn`, and per step: the
frozen VAE encoding the batch (`latent_dist.sample() * scaling_factor`), the frozen text encoder, the noise, the
UNet, the MSE, `accelerator.gather` of the loss and `.item()`, backward, grad-norm clipping, AdamW's default kernel,
`EMAModel.step`, a tracker log. Ours is `train()` exactly as `genzoo train text2image --vae V --text_encoder T` runs
it: the latents and token ids were computed once, before training (their one-time cost is in the table), so a step
draws z = mean + std * eps from the cache. Both train the same UNet (`SMALL_LATENT_UNET`, or --model_config) on the
same VAE and CLIP (`genzoo train autoencoder_kl`'s and `clip`'s default sizes, untrained: speed only), batch and
machine, in one run; rows in rotating order, --rounds times; medians of images/s over --steps steps after
WARMUP_STEPS (10) warm-up steps.
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
from datasets import Dataset, Features, Image, Value
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from report import publish
from tqdm.auto import tqdm

from hf_genzoo.compat import reset_accelerate_state
from hf_genzoo.data import load_data
from hf_genzoo.models.autoencoder_kl import TINY_KL, autoencoder_kl_for_images
from hf_genzoo.models.clip import small_clip, text_encoder_of, train_clip_tokenizer
from hf_genzoo.models.unet import TINY_LATENT_UNET, as_model_config, unet_for_latents
from hf_genzoo.pipelines import AutoencoderKLPipeline, CLIPPipeline
from hf_genzoo.training import make_config, train
from hf_genzoo.training.config import parse_kwargs, resolve_mixed_precision
from hf_genzoo.training.loop import WARMUP_STEPS

HERE = Path(__file__).resolve().parent
RESOLUTION = 32


def captioned_png_dataset(images: np.ndarray, captions: list[str]) -> Dataset:
    """uint8 `(N, C, H, W)` and captions -> a `datasets.Dataset` of PNG-encoded `Image` cells and a `text` column."""
    cells = []
    for x in images:
        buf = io.BytesIO()
        PIL.Image.fromarray(np.asarray(x[0]) if x.shape[0] == 1 else np.asarray(x).transpose(1, 2, 0)).save(buf, "PNG")
        cells.append({"bytes": buf.getvalue(), "path": None})
    features = Features({"image": Image(), "text": Value("string")})
    return Dataset.from_dict({"image": cells, "text": captions}, features=features)


def example_preprocess(tokenizer, resolution: int):
    """train_text_to_image.py's `preprocess_train`: RGB, Resize (bilinear), CenterCrop, ToTensor, Normalize(0.5, 0.5),
    and the captions tokenized to the tokenizer's length."""

    def one(image: PIL.Image.Image) -> torch.Tensor:
        image = image.convert("RGB")
        w, h = image.size
        scale = resolution / min(w, h)  # Resize(int): the short side to `resolution`
        image = image.resize((round(w * scale), round(h * scale)), PIL.Image.BILINEAR)
        w, h = image.size
        left, top = (w - resolution) // 2, (h - resolution) // 2
        image = image.crop((left, top, left + resolution, top + resolution))
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)  # ToTensor: (3, H, W)
        return (x - 0.5) / 0.5

    def preprocess_train(examples):
        examples["pixel_values"] = [one(image) for image in examples["image"]]
        tokens = tokenizer(
            examples["text"],
            max_length=tokenizer.model_max_length,
            padding="max_length",
            truncation=True,
            return_tensors="pt",
        )
        examples["input_ids"] = tokens.input_ids
        return examples

    return preprocess_train


def collate_fn(examples):
    pixel_values = torch.stack([example["pixel_values"] for example in examples]).float()
    return {"pixel_values": pixel_values, "input_ids": torch.stack([example["input_ids"] for example in examples])}


def example_images_per_second(dataset, parts: dict, unet_kwargs: dict, batch_size: int, steps: int, workdir: Path):
    """The example's loop (see the module docstring), timed like ours."""
    accelerator = Accelerator(
        mixed_precision="no",
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(workdir), logging_dir=str(workdir / "logs")),
    )
    vae, text_encoder, tokenizer = parts["vae"], parts["text_encoder"], parts["tokenizer"]
    torch.manual_seed(0)
    unet = unet_for_latents(4, RESOLUTION // 4, text_encoder.config.hidden_size, **unet_kwargs)
    noise_scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
    loader = torch.utils.data.DataLoader(
        dataset.with_transform(example_preprocess(tokenizer, RESOLUTION)),
        shuffle=True,
        collate_fn=collate_fn,
        batch_size=batch_size,
        num_workers=0,
    )
    lr_scheduler = get_scheduler("constant", optimizer=optimizer, num_warmup_steps=0, num_training_steps=10_000)
    unet, optimizer, loader, lr_scheduler = accelerator.prepare(unet, optimizer, loader, lr_scheduler)
    ema_unet = EMAModel(unet.parameters(), model_cls=UNet2DConditionModel, model_config=unet.config)
    ema_unet.to(accelerator.device)
    vae.to(accelerator.device).requires_grad_(False)
    text_encoder.to(accelerator.device).requires_grad_(False)
    accelerator.init_trackers("text2image-fine-tune")
    bar = tqdm(total=steps + WARMUP_STEPS, desc="diffusers example loop")
    step = 0
    while step < steps + WARMUP_STEPS:
        for batch in loader:
            if step == WARMUP_STEPS:
                start = time.perf_counter()
            with accelerator.accumulate(unet):
                latents = vae.encode(batch["pixel_values"]).latent_dist.sample() * vae.config.scaling_factor
                noise = torch.randn_like(latents)
                timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(latents),)).long()
                noisy_latents = noise_scheduler.add_noise(latents, noise, timesteps)
                encoder_hidden_states = text_encoder(batch["input_ids"], return_dict=False)[0]
                model_pred = unet(noisy_latents, timesteps, encoder_hidden_states, return_dict=False)[0]
                loss = F.mse_loss(model_pred.float(), noise.float(), reduction="mean")
                train_loss = accelerator.gather(loss.repeat(batch_size)).mean().item()
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(unet.parameters(), 1.0)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            if accelerator.sync_gradients:
                ema_unet.step(unet.parameters())
                bar.update(1)
                step += 1
                accelerator.log({"train_loss": train_loss}, step=step)
            if step == steps + WARMUP_STEPS:
                break
    seconds = time.perf_counter() - start
    bar.close()
    accelerator.end_training()
    reset_accelerate_state()
    return steps * batch_size / seconds


def ours_images_per_second(args, folders: dict, precision: str, model_config: str, workdir: Path) -> float:
    cfg = make_config(
        "text2image",
        dataset=args.dataset,
        vae=folders["vae"],
        text_encoder=folders["text_encoder"],
        max_steps=args.steps + WARMUP_STEPS,
        batch_size=args.batch_size,
        mixed_precision=precision,
        model_config=model_config,
        output_dir=str(workdir),
        checkpointing_steps=0,
        eval_batches=1,
        overwrite_output_dir=True,  # a scratch folder, trained into once per round
    )
    return train(cfg).images_per_second


def make_parts(captions: list[str], quick: bool, folder: Path) -> tuple[dict, dict]:
    """An untrained VAE and CLIP of the families' default sizes (tiny with --quick), as objects and as folders."""
    torch.manual_seed(0)
    vae = autoencoder_kl_for_images(3, RESOLUTION, **(TINY_KL if quick else {}))
    tokenizer = train_clip_tokenizer(captions)
    tiny_clip = dict(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, projection_dim=16
    )
    clip = small_clip(tokenizer=tokenizer, image_size=RESOLUTION, num_channels=3, **(tiny_clip if quick else {}))
    AutoencoderKLPipeline(vae=vae).save_pretrained(folder / "vae")
    CLIPPipeline(clip=clip, tokenizer=tokenizer).save_pretrained(folder / "clip")
    objects = {"vae": vae.eval(), "text_encoder": text_encoder_of(clip).eval(), "tokenizer": tokenizer}
    return objects, {"vae": str(folder / "vae"), "text_encoder": str(folder / "clip")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps per measurement (default: 20)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--model_config", default="", help="the UNet (default: SMALL_LATENT_UNET, the recipe's)")
    parser.add_argument("--quick", action="store_true", help="digits, tiny parts, 3 steps, 1 round")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--output", default=str(HERE / "results" / "text2image_throughput.md"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.dataset, args.steps, args.rounds, args.batch_size = "digits", 3, 1, 32
        args.model_config = args.model_config or as_model_config(TINY_LATENT_UNET)
    unet_kwargs = parse_kwargs(args.model_config)
    work = Path(tempfile.mkdtemp(prefix="genzoo-t2i-speed-"))
    captioned = load_data("captioned_images", args.dataset, "train")  # class names through the caption templates
    objects, folders = make_parts(captioned.captions, args.quick, work / "parts")
    start = time.perf_counter()  # the one-time cost of ours: every latent and token id, before any training
    cached = load_data(
        "captioned_latents",
        args.dataset,
        "train",
        resolution=RESOLUTION,
        channels=3,
        tokenizer=folders["text_encoder"],
        vae=folders["vae"],
    )
    caching_seconds = time.perf_counter() - start
    dataset = captioned_png_dataset(np.asarray(captioned.images), captioned.captions)
    default_precision = resolve_mixed_precision("auto")
    names = {
        "example": "diffusers example data path (`train_text_to_image.py` loop)",
        "ours_fp32": "`train()`, fp32 (the example's precision)",
    }
    runs = {
        "example": lambda i: example_images_per_second(
            dataset, objects, unet_kwargs, args.batch_size, args.steps, work / f"example{i}"
        ),
        "ours_fp32": lambda i: ours_images_per_second(args, folders, "no", args.model_config, work / f"fp32_{i}"),
    }
    if default_precision != "no":  # the defaults differ from fp32 only where bf16 is native
        names["ours_default"] = f"`train()` with its defaults ({default_precision})"
        runs["ours_default"] = lambda i: ours_images_per_second(
            args, folders, "auto", args.model_config, work / f"auto_{i}"
        )
    results = {k: [] for k in runs}
    order = list(runs)
    for r in range(args.rounds):
        for i in range(len(order)):
            key = order[(i + r) % len(order)]
            results[key].append(runs[key](r))
        print({k: [round(v, 1) for v in vs] for k, vs in results.items()}, flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    unet = unet_for_latents(4, RESOLUTION // 4, objects["text_encoder"].config.hidden_size, **unet_kwargs)
    n_params = sum(p.numel() for p in unet.parameters())
    lines = [
        f"UNet2DConditionModel ({n_params / 1e6:.1f}M parameters) on 8x8x4 latents, `{args.dataset}` at "
        f"{RESOLUTION}x{RESOLUTION} RGB, batch {args.batch_size}, {args.steps} timed steps after {WARMUP_STEPS} "
        f"warm-up steps, {args.rounds} rounds in rotating order, medians ({platform.machine()}, "
        f"{torch.get_num_threads()} threads). Ours first encoded the {len(cached)} training images and tokenized their "
        f"captions, once: {caching_seconds:.0f} s"
        + ("" if default_precision != "no" else "; this CPU has no native bf16, so the defaults are fp32")
        + ".",
        "",
        "| loop | images/s | / example |",
        "|---|---|---|",
    ]
    for key, name in names.items():
        ratio = med[key] / med["example"]
        lines.append(
            f"| {name} | {med[key]:,.1f} | {'**' if key != 'example' else ''}{ratio:.2f}x"
            f"{'**' if key != 'example' else ''} |"
        )
    raw = {"medians": med, "rounds": results, "caching_seconds": caching_seconds, "unet_parameters": n_params}
    publish("\n".join(lines), raw, args.output, "text2image_throughput" if args.update_readme else None)


if __name__ == "__main__":
    main()
