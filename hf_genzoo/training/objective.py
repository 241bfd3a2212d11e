"""What a family tells the one training loop: its data, its models, its optimizers, the loss of a batch.

The loop (`loop.py`) knows nothing of autoencoders or GANs. A family subclasses `Objective`, fills in the
few methods below, and registers a `hf_genzoo.family.Family` record that names it; `genzoo train NAME`
then trains it.
"""

import inspect
from collections.abc import Iterator
from typing import Any

import torch
from accelerate import Accelerator
from diffusers import DiffusionPipeline
from diffusers.training_utils import EMAModel
from torch import nn

from ..data import TensorData, random_hflip
from ..errors import UserInputError
from ..registry import get_family
from .config import TrainConfig


def model_options(cls, fixed=()) -> list[str]:
    """The arguments of `cls`'s constructor (or of a function that builds a model) that `--model_config` may set;
    those in `fixed` come from the data."""
    signature = inspect.signature(cls.__init__ if isinstance(cls, type) else cls)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in signature.parameters.values() if p.kind in kinds and p.name not in ("self", *fixed)]


def check_options(given: dict, takers: dict[str, list[str]]) -> None:
    """Raise a `UserInputError` naming the keys of `given` that no taker (name -> the options it takes) takes."""
    unknown = sorted(k for k in given if all(k not in options for options in takers.values()))
    if unknown:
        takes = "; ".join(f"{name} takes {options}" for name, options in takers.items())
        raise UserInputError(f"--model_config: no option(s) {unknown}; {takes}")


def build_model(cls, cfg: TrainConfig, options: dict | None = None, **fixed):
    """`cls(**fixed, **options)`, `options` (default: all of `--model_config`) checked against `cls`'s arguments
    first; `fixed`, what the objective derives from the data, cannot be overridden."""
    options = cfg.model_kwargs() if options is None else options
    check_options(options, {cls.__name__: model_options(cls, fixed)})
    return cls(**fixed, **options)


def make_config(model: str, **overrides) -> TrainConfig:
    """A TrainConfig for `model`: the dataclass defaults, then the family's recipe, then `overrides`."""
    return TrainConfig(**{**get_family(model).objective.recipe, **overrides, "model": model})


class Objective:
    """One family's part of training.

    Attributes:
        models (`dict[str, nn.Module]`): what is trained; the loop prepares them with accelerate
            and puts the prepared ones back here. The first is the "main" model.
        recipe (`dict`): TrainConfig defaults that suit this family better than the global ones.
    """

    name: str = ""  # set by `register_family`
    recipe: dict[str, Any] = {}
    models: dict[str, nn.Module]

    def __init__(self, cfg: TrainConfig, data: TensorData):
        self.cfg = cfg

    @classmethod
    def prepare(cls, cfg: TrainConfig) -> TrainConfig:
        """Work the family does before its own training starts, in every process, before the loop's `Accelerator`
        exists (e.g. learning a tokenizer from the captions, or training the parts a model is built on); returns
        the config to train with. Default: nothing."""
        return cfg

    @classmethod
    def data_options(cls, cfg: TrainConfig) -> dict[str, Any]:
        """The options of `hf_genzoo.data.load_data` for this family's data kind, from the command line."""
        return {
            "resolution": cfg.resolution,
            "channels": cfg.channels,
            "image_column": cfg.image_column,
            "label_column": cfg.label_column,
        }

    # --- what must be filled in
    def losses(self, batch: dict, step: int) -> Iterator[tuple[str, torch.Tensor]]:
        """Yield `(optimizer_name, loss)`; the loop steps that optimizer before asking for the next
        loss, so a GAN yields the discriminator's loss, then the generator's."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        """Metrics on the held-out split (gather across processes with `gather_for_metrics`)."""
        raise NotImplementedError

    @torch.no_grad()
    def picture(self, batch: dict) -> torch.Tensor:
        """Rows of images `(R, N, C, H, W)` in [0, 1] to save as a grid during training."""
        raise NotImplementedError

    def sounds(self, batch: dict) -> tuple[dict[str, Any], int] | None:
        """Clips for the tracker beside the picture, `({name: mono waveform (T,) in [-1, 1]}, sampling_rate)`, for a
        family that hears rather than sees (TensorBoard plays them); default: none."""
        return None

    def pipeline(self, accelerator: Accelerator) -> DiffusionPipeline:
        """The pipeline to save at the end, built from the unwrapped models."""
        raise NotImplementedError

    # --- sensible defaults
    def augment(self, batch: dict) -> dict:
        """The batch the losses see: with `--random_flip`, images flipped left-right, batched on the device."""
        if self.cfg.random_flip:
            batch["pixel_values"] = random_hflip(batch["pixel_values"])
        return batch

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One AdamW per model, named like the model (a model named discriminator steps at
        `--discriminator_learning_rate` when it is given). The fused kernel (one pass over all parameters instead
        of a dozen ops per tensor) is the same arithmetic, and faster: benchmarks/loop_throughput.py times a plain
        loop with each kernel."""
        c = self.cfg
        return {
            name: torch.optim.AdamW(
                [p for p in m.parameters() if p.requires_grad],
                lr=c.discriminator_learning_rate
                if name == "discriminator" and c.discriminator_learning_rate
                else c.learning_rate,
                betas=(c.adam_beta1, c.adam_beta2),
                weight_decay=c.weight_decay,
                fused=True,
            )
            for name, m in self.models.items()
        }

    def save(self, pipeline: DiffusionPipeline, output_dir, accelerator: Accelerator) -> None:
        """Write the pipeline at the end of training (safetensors only); a family may add to it (LoRA weights)."""
        pipeline.save_pretrained(output_dir, safe_serialization=True)

    def checkpoint_objects(self) -> list:
        """Extra stateful objects (e.g. EMA) to save in checkpoints; each has state_dict/load_state_dict."""
        return []

    def after_step(self, step: int) -> None:
        """Called after each optimizer step (e.g. to update an EMA)."""

    def card_info(self) -> dict[str, Any]:
        """What the model card should say about this run (tags, description, main metric)."""
        return {"tags": [self.name]}


class EMAObjective(Objective):
    """An objective that keeps an exponential moving average of one model's weights (`ema_model`, diffusers'
    `EMAModel`, decay warmed up as 1 - (1 + step / inv_gamma) ** -power up to `--ema_max_decay`): updated after every
    optimizer step, kept in checkpoints, swapped in to evaluate and draw (`_with_ema_weights`) and saved
    (`ema_copy`). The diffusion families average their denoiser, the DDGAN its generator."""

    ema_model = "unet"  # the key in `models` of the averaged model
    ema: EMAModel | None = None

    def init_ema(self, model, model_cls) -> None:
        cfg = self.cfg
        self.ema = EMAModel(
            model.parameters(),
            decay=cfg.ema_max_decay,
            use_ema_warmup=True,
            inv_gamma=cfg.ema_inv_gamma,
            power=cfg.ema_power,
            foreach=True,
            model_cls=model_cls,
            model_config=model.config,
        )

    def after_step(self, step: int) -> None:
        if self.ema is None:
            return
        params = list(self.models[self.ema_model].parameters())
        if self.ema.shadow_params[0].device != params[0].device:  # first step, or just resumed onto a GPU
            self.ema.to(params[0].device)
        self.ema.step(params)

    def checkpoint_objects(self) -> list:
        return [] if self.ema is None else [self.ema]

    def _with_ema_weights(self, fn):
        """fn() with the EMA weights in the training model, then the raw weights back."""
        if self.ema is None:
            return fn()
        params = list(self.models[self.ema_model].parameters())
        self.ema.store(params)
        self.ema.copy_to(params)
        try:
            return fn()
        finally:
            self.ema.restore(params)

    def ema_copy(self, model):
        """A fresh copy of the training `model` (unwrapped) with the EMA weights; the training model is unchanged."""
        copy = type(model).from_config(model.config)
        if self.ema is None:
            copy.load_state_dict(model.state_dict())
        else:
            self.ema.copy_to(copy.parameters())
        return copy.eval()
