"""Training: one accelerate loop (`train`) and one small objective per family."""

from . import autoencoder, classifier, diffusion, flow, gan, vae  # noqa: F401  (each module registers its family's objectives)
from .config import TrainConfig
from .loop import TrainResult, find_checkpoint, train
from .objective import OBJECTIVES, Objective, get_objective_class, make_config, register

__all__ = [
    "OBJECTIVES", "Objective", "TrainConfig", "TrainResult", "find_checkpoint", "get_objective_class", "make_config",
    "register", "train",
]  # fmt: skip
