"""Training: one accelerate loop (`train`) and one small objective per family.

Importing this package imports each family's objective module, which registers the family
(`hf_genzoo.family.register_family`).
"""

from . import (  # noqa: F401
    audio_denoiser,
    autoencoder,
    autoencoder_kl,
    classifier,
    clip,
    ddgan,
    diffusion,
    flow,
    gan,
    point_classifier,
    pointcloud_diffusion,
    text2image,
    vae,
)
from .config import TrainConfig
from .loop import TrainResult, find_checkpoint, train
from .objective import Objective, build_model, make_config

__all__ = ["Objective", "TrainConfig", "TrainResult", "build_model", "find_checkpoint", "make_config", "train"]
