"""Objective of the `text2image` family: text-conditioned latent diffusion, saved as a stock Stable Diffusion pipeline.

Rombach et al. 2022 (arXiv:2112.10752): a denoiser learns the latents of a frozen autoencoder, conditioned on a
frozen text encoder's hidden states by cross-attention; Ho & Salimans 2022 (arXiv:2207.12598): dropping the caption
now and then trains the unconditional model in the same network, for classifier-free guidance. The parts:
    vae            a frozen `AutoencoderKL` (`--vae`: a `genzoo train autoencoder_kl` folder, an SD pipeline, or a
                   Hub VAE)
    text_encoder   a frozen CLIP text tower and its tokenizer (`--text_encoder`: a `genzoo train clip` folder, an SD
                   pipeline, or a Hub CLIP such as openai/clip-vit-base-patch32)
    unet           diffusers' `UNet2DConditionModel`, trained here, with an EMA of its weights (as the DDPM family)
Without `--vae` or `--text_encoder`, `prepare` first trains the missing part with its own family's recipe (and
this run's `--epochs` / `--max_steps` / `--batch_size`), into `OUTPUT/parts/`, so one command makes a whole
pipeline. With `--pretrained_model_name_or_path` (any Stable Diffusion pipeline) the four parts come from it and
its UNet is fine-tuned: entirely, or with `--lora_rank` as LoRA adapters (peft, as diffusers'
`train_text_to_image_lora.py`), saved as `pytorch_lora_weights.safetensors` that `pipe.load_lora_weights` loads.

Per batch (captions tokenized and images encoded once by the data layer, the `captioned_latents` kind):
    z0 = (mean + std * eps) * scaling_factor        a posterior sample of each latent (SD's `latent_dist.sample()`)
    ids = the empty prompt with probability `caption_dropout`, else the caption
    loss = || UNet(add_noise(z0, noise, t), t, text_encoder(ids)) - target ||^2     (epsilon or v, as the DDPM)
The output folder is diffusers' own `StableDiffusionPipeline` (EMA weights in the UNet, the training noise schedule
as its scheduler): `StableDiffusionPipeline.from_pretrained(dir)` loads it without hf_genzoo.
"""

import dataclasses
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import extract_model_from_parallel
from diffusers import DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel

from hf_genzoo.models.clip import text_encoder_of
from hf_genzoo.models.unet import unet_for_latents
from hf_genzoo.samplers import DEFAULT_STEPS, make_scheduler, use_sampler

from ..data import TensorData, to_unit_range
from ..data.captions import decode_captions, load_tokenizer
from ..data.latents import load_vae
from ..errors import UserInputError
from .clip import caption_options
from .config import TrainConfig
from .diffusion import DiffusionObjective
from .loop import train
from .objective import make_config

PARTS = "parts"  # where the parts trained first go, in the output directory
PICTURE_ROWS, PICTURE_STEPS, PICTURE_GUIDANCE = 2, 20, 4.0
DEFAULT_GUIDANCE, DEFAULT_SCHEDULER = 4.0, "dpmsolver++"
LORA_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]  # the attention projections, as train_text_to_image_lora.py
# Stable Diffusion's noise schedule ends (with "scaled_linear"), no clipping of x0 (latents are not in [-1, 1]),
# and its step offset, so that diffusers' pipeline finds the config it expects
SD_SCHEDULE = dict(beta_start=0.00085, beta_end=0.012, clip_sample=False, steps_offset=1)


def load_text_encoder(name_or_path: str):
    """The CLIP text tower of an SD pipeline (`text_encoder/`), of a `genzoo train clip` output (`clip/`), or of a
    CLIP folder or repo itself."""
    from transformers import CLIPModel, CLIPTextModel

    for loader, subfolder in ((CLIPTextModel, "text_encoder"), (CLIPModel, "clip")):
        try:
            model = loader.from_pretrained(name_or_path, subfolder=subfolder)
            return model if isinstance(model, CLIPTextModel) else text_encoder_of(model)
        except (OSError, ValueError):
            continue
    return CLIPTextModel.from_pretrained(name_or_path)


class Text2ImageObjective(DiffusionObjective):
    """Trains a text-conditioned `UNet2DConditionModel` on frozen VAE latents; see the module docstring."""

    recipe = {
        "resolution": 32,  # 32x32 images, 8x8x4 latents (the autoencoder_kl recipe)
        "channels": 3,
        "epochs": 20,
        "batch_size": 128,
        "learning_rate": 2e-4,
        "lr_scheduler": "constant_with_warmup",
        "lr_warmup_steps": 500,
        "adam_beta1": 0.95,
        "weight_decay": 1e-6,
        "max_grad_norm": 1.0,
        "mixed_precision": "auto",
        "ddpm_beta_schedule": "scaled_linear",  # Stable Diffusion's schedule (beta 0.00085 -> 0.012)
    }

    @classmethod
    def prepare(cls, cfg: TrainConfig) -> TrainConfig:
        """Train the parts not given, each with its own family's recipe, into OUTPUT/parts/ (reused when there)."""
        if cfg.pretrained_model_name_or_path:
            if cfg.vae or cfg.text_encoder:
                raise UserInputError("--pretrained_model_name_or_path brings its own VAE and text encoder")
            return cfg
        if cfg.lora_rank:
            raise UserInputError("--lora_rank adapts a pretrained UNet: give --pretrained_model_name_or_path")

        parts = {}
        for part, option in (("autoencoder_kl", "vae"), ("clip", "text_encoder")):
            if getattr(cfg, option):
                continue
            out = Path(cfg.output_dir) / PARTS / part
            if not (out / "model_index.json").exists():
                same = (
                    "dataset",
                    "train_split",
                    "eval_split",
                    "image_column",
                    "label_column",
                    "caption_column",
                    "resolution",
                    "channels",
                    "epochs",
                    "max_steps",
                    "batch_size",
                    "seed",
                    "report_to",
                )
                shared = {k: getattr(cfg, k) for k in same}
                train(make_config(part, **shared, output_dir=str(out), checkpointing_steps=0))
            parts[option] = str(out)
        return dataclasses.replace(cfg, **parts)

    @classmethod
    def data_options(cls, cfg: TrainConfig) -> dict:
        source = cfg.pretrained_model_name_or_path
        return {**caption_options(cfg), "tokenizer": source or cfg.text_encoder, "vae": source or cfg.vae}

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if cfg.noise:
            raise UserInputError("text2image makes its own noise; --noise is for denoising autoencoders")
        if not 0 <= cfg.caption_dropout < 1:
            raise UserInputError(f"--caption_dropout must be in [0, 1), got {cfg.caption_dropout}")
        source = cfg.pretrained_model_name_or_path
        self.vae = load_vae(source or cfg.vae).eval().requires_grad_(False)
        self.text_encoder = load_text_encoder(source or cfg.text_encoder).eval().requires_grad_(False)
        self.tokenizer = load_tokenizer(source or cfg.text_encoder)
        if source:
            self.unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet")
            self.noise_scheduler = DDPMScheduler.from_pretrained(source, subfolder="scheduler")
        else:
            latent_channels, side = data.arrays["latent_mean"].shape[1:3]
            hidden = self.text_encoder.config.hidden_size
            self.unet = unet_for_latents(latent_channels, side, hidden, **cfg.model_kwargs())
            self.noise_scheduler = DDPMScheduler(
                num_train_timesteps=cfg.ddpm_num_steps,
                beta_schedule=cfg.ddpm_beta_schedule,
                prediction_type=cfg.prediction_type,
                **SD_SCHEDULE,
            )
        if cfg.lora_rank:
            try:
                from peft import LoraConfig
            except ImportError:
                raise UserInputError(
                    "--lora_rank needs peft: pip install 'hf_genzoo[lora]' "
                    "(or leave out --lora_rank to tune the whole UNet)"
                ) from None

            self.unet.requires_grad_(False)
            self.unet.add_adapter(
                LoraConfig(
                    r=cfg.lora_rank, lora_alpha=cfg.lora_rank, init_lora_weights="gaussian", target_modules=LORA_TARGETS
                )
            )
        else:
            self.init_ema(self.unet, UNet2DConditionModel)
        empty = self.tokenizer("", padding="max_length", truncation=True, return_tensors="pt").input_ids  # (1, L)
        if empty.shape[1] != data.arrays["input_ids"].shape[1]:
            raise UserInputError("the cached token ids were made with another tokenizer length; remove the cache")
        self.empty_ids = empty
        self.scaling_factor = self.vae.config.scaling_factor
        self.models = {"unet": self.unet}
        self.example_prompt = data.captions[0] if len(data) else ""

    def _text_states(self, ids: torch.Tensor) -> torch.Tensor:
        """The frozen text encoder's last hidden states `(B, L, hidden)` of token ids `(B, L)`."""
        if self.text_encoder.device != ids.device:  # the first step, on the training device
            self.text_encoder.to(ids.device)
            self.vae.to(ids.device)
        with torch.no_grad():
            return self.text_encoder(ids)[0]

    def clean_and_condition(self, batch, sample):
        mean, std = batch["latent_mean"].float(), batch["latent_std"].float()  # (B, c, h, w)
        z0 = (mean + std * torch.randn_like(std) if sample else mean) * self.scaling_factor
        ids = batch["input_ids"]  # (B, L)
        if sample and self.cfg.caption_dropout:  # the unconditional case, for classifier-free guidance
            drop = torch.rand(len(ids), device=ids.device) < self.cfg.caption_dropout
            ids = torch.where(drop[:, None], self.empty_ids.to(ids.device), ids)
        return z0, {"encoder_hidden_states": self._text_states(ids)}

    def losses(self, batch, step):
        yield "unet", self.diffusion_loss(batch)

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        """Held-out images over samples drawn for their captions (guidance 4, DPM-Solver++ in 20 steps)."""
        real = to_unit_range(batch["pixel_values"]).cpu()  # (N, C, H, W)
        captions = decode_captions(batch["caption_bytes"].cpu().numpy())
        return self._with_ema_weights(lambda: self._picture(real, captions))

    def _picture(self, real, captions):
        unet = extract_model_from_parallel(self.models["unet"])
        pipe = self._pipeline(unet, make_scheduler(DEFAULT_SCHEDULER, self.noise_scheduler.config))
        pipe.set_progress_bar_config(disable=True)
        g = torch.Generator().manual_seed(0)
        fake = pipe(
            captions * PICTURE_ROWS,
            num_inference_steps=PICTURE_STEPS,
            guidance_scale=PICTURE_GUIDANCE,
            generator=g,
            output_type="pt",
        ).images
        return torch.cat([real[None], fake.float().cpu().view(PICTURE_ROWS, *real.shape)])

    def _pipeline(self, unet, scheduler) -> StableDiffusionPipeline:
        return StableDiffusionPipeline(
            vae=self.vae,
            text_encoder=self.text_encoder,
            tokenizer=self.tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )

    def pipeline(self, accelerator: Accelerator) -> StableDiffusionPipeline:
        unet = accelerator.unwrap_model(self.models["unet"])
        if self.cfg.lora_rank:  # the base UNet as it came; the adapters are saved beside it (`save`)
            base = UNet2DConditionModel.from_pretrained(self.cfg.pretrained_model_name_or_path, subfolder="unet")
            return self._pipeline(base.eval(), self.noise_scheduler)
        return self._pipeline(self.ema_copy(unet), self.noise_scheduler)

    def save(self, pipeline, output_dir: Path, accelerator: Accelerator) -> None:
        pipeline.save_pretrained(output_dir, safe_serialization=True)
        if self.cfg.lora_rank:
            from diffusers.utils import convert_state_dict_to_diffusers
            from peft.utils import get_peft_model_state_dict

            lora = get_peft_model_state_dict(accelerator.unwrap_model(self.models["unet"]))
            StableDiffusionPipeline.save_lora_weights(
                output_dir, unet_lora_layers=convert_state_dict_to_diffusers(lora)
            )

    def card_info(self):
        c = self.unet.config
        how = f"LoRA rank {self.cfg.lora_rank} on " if self.cfg.lora_rank else ""
        return {
            "tags": [
                "text-to-image",
                "stable-diffusion",
                "latent-diffusion",
                *(["lora"] if self.cfg.lora_rank else []),
            ],
            "description": f"Text-to-image latent diffusion ({how}a {len(c.block_out_channels)}-level "
            f"UNet2DConditionModel on {c.sample_size}x{c.sample_size}x{c.in_channels} latents)",
            "main_metric": "loss",
            "example_prompt": self.example_prompt,
            "hyperparameters": (
                "vae",
                "text_encoder",
                "pretrained_model_name_or_path",
                "lora_rank",
                "caption_dropout",
                "prediction_type",
                "ddpm_beta_schedule",
                "ema_max_decay",
            ),
        }


def sample(pipe, batch_size, generator, prompt=None, guidance_scale=None, scheduler=None, steps=None):
    """Images for `prompt` (default: the empty prompt, the unconditional model) from a Stable Diffusion pipeline:
    `scheduler` swapped in (default DPM-Solver++), `steps` steps (default: the sampler's usual number), classifier-free
    guidance `guidance_scale` (default 4)."""
    use_sampler(pipe, scheduler or DEFAULT_SCHEDULER)
    pipe.set_progress_bar_config(disable=True)
    steps = steps or DEFAULT_STEPS[scheduler or DEFAULT_SCHEDULER]
    guidance = DEFAULT_GUIDANCE if guidance_scale is None else guidance_scale
    prompts = [prompt or ""] * batch_size
    return pipe(
        prompts, num_inference_steps=steps, guidance_scale=guidance, generator=generator, output_type="pt"
    ).images
