"""Objective of the normalizing-flow family: maximum likelihood of dequantized images.

Loss (per batch of uint8 images k): the mean bits/dim of y = (k + u) / 256, u ~ U[0, 1) fresh each step,
    -(log N(z; 0, I) + log |det dz/dy| - D log 256) / (D log 2),    (z, log |det|) = flow.inverse(y)
Metric: bits/dim on the held-out split, dequantized with a fixed generator (the same noise at every evaluation).
Before training, every actnorm is initialized from the first 512 training images (Glow sec 3.1).
"""

import numpy as np
import torch
from accelerate import Accelerator

from hf_genzoo.models.flow import Flow
from hf_genzoo.pipelines.flow import FlowPipeline

from ..data import TensorData
from ..errors import UserInputError
from .config import TrainConfig
from .objective import Objective, build_model

EVAL_NOISE_SEED = 1234  # the same dequantization noise at every evaluation
INIT_IMAGES = 512  # images for the data-dependent actnorm initialization
TEMPERATURES = (0.7, 1.0)  # rows of the training picture (Glow sec 5.3: T = 0.7 looks best)


class FlowObjective(Objective):
    recipe = dict(
        epochs=12,  # fashion_mnist: test bits/dim 3.202 after 10 epochs, still falling ~0.016 per epoch
        batch_size=64,  # RealNVP/Glow train with 64; more steps per epoch help a flow more than bigger batches
        learning_rate=1e-3,  # Glow's Adam step size
        lr_scheduler="constant_with_warmup",  # Glow: linear warm-up, then constant ("constant" ignores warm-up)
        lr_warmup_steps=200,  # the first steps after the actnorm init are the unstable ones
        max_grad_norm=100.0,  # clips only rare spikes of the log-det terms (no clipped step seen on fashion_mnist)
    )

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if cfg.noise:
            raise UserInputError(f"the flow objective is maximum likelihood and takes no --noise (got {cfg.noise!r})")
        self.flow = build_model(Flow, cfg, in_channels=data.channels, sample_size=data.resolution)
        first = torch.from_numpy(np.array(data.images[:INIT_IMAGES]))  # (n, C, H, W) uint8
        self.flow.initialize(first, generator=torch.Generator().manual_seed(cfg.seed))
        self.models = {"flow": self.flow}

    def losses(self, batch, step):
        y = self.flow.uniform_dequantize(batch["pixel_values"])  # (B, C, H, W) in [0, 1)
        z, log_det = self.models["flow"](y, inverse=True, return_dict=False)  # through the call: DDP syncs them
        yield "flow", self.flow.to_bits_per_dim(self.flow.log_prob_of_latents(z, log_det)).mean()

    @torch.no_grad()
    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        g = torch.Generator(device=accelerator.device).manual_seed(EVAL_NOISE_SEED)
        total, n = 0.0, 0
        for batch in loader:
            images = batch["pixel_values"].to(accelerator.device)  # (B, C, H, W) uint8
            bpd = accelerator.gather_for_metrics(self.flow.bits_per_dim(images, generator=g))
            total, n = total + bpd.double().sum().item(), n + len(bpd)
        return {"bits_per_dim": total / n}

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        n, device = len(batch["pixel_values"]), batch["pixel_values"].device
        g = torch.Generator(device=device).manual_seed(0)
        z = torch.randn(n, self.flow.num_dims, generator=g, device=device, dtype=self.flow.dtype)
        rows = [self.flow.to_pixels(self.flow(t * z).sample) for t in TEMPERATURES]
        return torch.stack(rows)  # (R, N, C, H, W)

    def pipeline(self, accelerator: Accelerator) -> FlowPipeline:
        return FlowPipeline(flow=accelerator.unwrap_model(self.models["flow"]))

    def card_info(self):
        return {
            "tags": ["flow", "normalizing-flow", "realnvp", "glow"],
            "description": "Flow (multiscale RealNVP/Glow normalizing flow)",
            "main_metric": "bits_per_dim",
        }
