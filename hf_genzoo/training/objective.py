"""What a family tells the one training loop: its models, its optimizers, the loss of a batch.

The loop (`loop.py`) knows nothing of autoencoders or GANs. A family subclasses `Objective` and
fills in the few methods below; `register` makes it trainable by name (`genzoo train NAME`).
"""

import inspect
from typing import Any, Iterator

import torch
from accelerate import Accelerator
from diffusers import DiffusionPipeline
from torch import nn

from ..data import ImageData
from .config import TrainConfig

OBJECTIVES: dict[str, type["Objective"]] = {}


def register(name: str):
    def deco(cls):
        OBJECTIVES[name] = cls
        cls.name = name
        return cls

    return deco


def get_objective_class(name: str) -> type["Objective"]:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown model {name!r}; trainable models: {', '.join(sorted(OBJECTIVES))}")
    return OBJECTIVES[name]


def build_model(cls, cfg: TrainConfig, **fixed):
    """`cls(**fixed, **overrides)`, the `--model_config` overrides checked against `cls`'s arguments (`fixed`,
    what the objective derives from the data, cannot be overridden)."""
    kwargs = cfg.model_kwargs()
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", *fixed)]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"--model_config: {cls.__name__} has no option(s) {unknown}; it takes {allowed}")
    return cls(**{**fixed, **kwargs})


def make_config(model: str, **overrides) -> TrainConfig:
    """A TrainConfig for `model`: the dataclass defaults, then the family's recipe, then `overrides`."""
    cls = get_objective_class(model)
    return TrainConfig(**{**cls.recipe, **overrides, "model": model})


class Objective:
    """One family's part of training.

    Attributes:
        models (`dict[str, nn.Module]`): what is trained; the loop prepares them with accelerate
            and puts the prepared ones back here. The first is the "main" model.
        recipe (`dict`): TrainConfig defaults that suit this family better than the global ones.
    """

    name: str = ""
    recipe: dict[str, Any] = {}
    models: dict[str, nn.Module]

    def __init__(self, cfg: TrainConfig, data: ImageData):
        self.cfg = cfg

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

    def pipeline(self, accelerator: Accelerator) -> DiffusionPipeline:
        """The pipeline to save at the end, built from the unwrapped models."""
        raise NotImplementedError

    # --- sensible defaults
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One AdamW per model, named like the model. The fused kernel (one pass over all parameters instead
        of a dozen ops per tensor) is the same arithmetic, and faster: benchmarks/loop_throughput.py times a plain
        loop with each kernel."""
        c = self.cfg
        return {
            name: torch.optim.AdamW(
                m.parameters(), lr=c.learning_rate, betas=(c.adam_beta1, c.adam_beta2), weight_decay=c.weight_decay,
                fused=True,
            )  # fmt: skip
            for name, m in self.models.items()
        }

    def checkpoint_objects(self) -> list:
        """Extra stateful objects (e.g. EMA) to save in checkpoints; each has state_dict/load_state_dict."""
        return []

    def after_step(self, step: int) -> None:
        """Called after each optimizer step (e.g. to update an EMA)."""

    def card_info(self) -> dict[str, Any]:
        """What the model card should say about this family (tags, description)."""
        return {"family": self.name, "tags": [self.name]}
