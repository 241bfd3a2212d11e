"""Objective of the point-set classifier: cross-entropy on the labels of 3-D point sets (PointNet, no T-nets).

It checks that class-conditional samples of a point-cloud diffusion model are recognised as their class, as the
image classifier does for images. Loss per batch: cross-entropy of the logits against the labels, with the image
classifier's label smoothing (0.1). Each batch is augmented on the device first, as PointNet's ModelNet training
is (Qi et al. 2017, arXiv:1612.00593, Sec. 5.1): a random rotation about the vertical axis (z, the up axis of
`hf_genzoo.viz.point_cloud_images`), a random scale in [0.8, 1.25] (PointNet++, Qi et al. 2017b) and Gaussian jitter
of each point (sigma 0.01, clipped at 0.05). Metrics on the held-out split: accuracy, the cross-entropy (no
smoothing) and the accuracy of the hardest class.
"""

import math

import torch
import torch.nn.functional as F
from accelerate import Accelerator

from hf_genzoo.models.point_classifier import PointClassifier
from hf_genzoo.pipelines.point_classifier import PointClassifierPipeline

from ..data import TensorData
from ..errors import UserInputError
from ..viz import point_cloud_images
from .classifier import LABEL_SMOOTHING
from .classifier import evaluate_pipeline as evaluate_accuracy
from .config import TrainConfig
from .objective import Objective, build_model

SCALE_RANGE = (0.8, 1.25)  # PointNet++'s random scaling
JITTER_SIGMA, JITTER_CLIP = 0.01, 0.05  # PointNet's per-point jitter


def random_z_rotation(points: torch.Tensor) -> torch.Tensor:
    """Each set `(B, N, 3)` turned by its own uniform angle about the z (vertical) axis."""
    theta = 2 * math.pi * torch.rand(len(points), device=points.device, dtype=points.dtype)  # (B,)
    c, s, zero, one = theta.cos(), theta.sin(), torch.zeros_like(theta), torch.ones_like(theta)
    rotation = torch.stack([c, -s, zero, s, c, zero, zero, zero, one], dim=1).view(-1, 3, 3)  # (B, 3, 3)
    return points @ rotation.transpose(1, 2)  # (B, N, 3)


class PointClassifierObjective(Objective):
    """Trains a [`PointClassifier`] on the labels of point sets; see the module docstring."""

    recipe = {
        "dataset": "shapes3d",  # the embedded labelled primitive shapes: no network
        "num_points": 1024,  # PointNet's ModelNet setting; shapes this simple need no more
        "epochs": 10,
        "batch_size": 32,  # PointNet's; small batches take more steps per epoch on few sets
        "learning_rate": 1e-3,  # PointNet's Adam step size
        "lr_scheduler": "cosine",
        "lr_warmup_steps": 50,
        "weight_decay": 1e-4,
    }

    @classmethod
    def data_options(cls, cfg: TrainConfig) -> dict:
        return {"num_points": cfg.num_points, "points_column": cfg.points_column, "label_column": cfg.label_column}

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if data.labels is None:
            raise UserInputError(f"{data.name} has no labels; a classifier needs a label column (--label_column)")
        if cfg.noise:
            raise UserInputError(f"the point classifier takes no --noise (got {cfg.noise!r})")
        self.classifier = build_model(
            PointClassifier,
            cfg,
            num_classes=int(data.labels.max()) + 1,
            num_points=data.arrays["points"].shape[1],
            class_names=list(data.label_names) if data.label_names else None,
        )
        self.models = {"classifier": self.classifier}

    def augment(self, batch: dict) -> dict:
        """Rotation about z, scaling and jitter of each set `(B, N, 3)`, batched on the device (module docstring)."""
        x = random_z_rotation(batch["points"])
        scale = torch.empty(len(x), 1, 1, device=x.device, dtype=x.dtype).uniform_(*SCALE_RANGE)
        jitter = (JITTER_SIGMA * torch.randn_like(x)).clamp(-JITTER_CLIP, JITTER_CLIP)
        batch["points"] = x * scale + jitter  # (B, N, 3)
        return batch

    def losses(self, batch, step):
        logits = self.models["classifier"](batch["points"]).logits  # (B, num_classes)
        yield "classifier", F.cross_entropy(logits.float(), batch["labels"], label_smoothing=LABEL_SMOOTHING)

    @torch.no_grad()
    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        model = self.models["classifier"]
        k = accelerator.unwrap_model(model).config.num_classes
        correct, total = torch.zeros(k, dtype=torch.float64), torch.zeros(k, dtype=torch.float64)
        nll = 0.0
        for batch in loader:
            logits = model(batch["points"]).logits.float()
            logits, labels = accelerator.gather_for_metrics((logits, batch["labels"]))
            nll += F.cross_entropy(logits, labels, reduction="sum").item()
            hit = (logits.argmax(-1) == labels).double().cpu()
            correct.index_add_(0, labels.cpu(), hit)
            total.index_add_(0, labels.cpu(), torch.ones_like(hit))
        metrics = {"accuracy": (correct.sum() / total.sum()).item(), "cross_entropy": nll / total.sum().item()}
        metrics["worst_class_accuracy"] = (correct / total.clamp_min(1))[total > 0].min().item()
        return metrics

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        """Held-out sets drawn as images, sorted into rows: correctly classified on top, mistakes below."""
        images = point_cloud_images(batch["points"])  # (N, 3, H, W) on white
        right = self.models["classifier"](batch["points"]).logits.argmax(-1) == batch["labels"]
        right = right.cpu().view(-1, 1, 1, 1)
        blank = torch.ones_like(images)
        return torch.stack([torch.where(right, images, blank), torch.where(right, blank, images)])  # (2, N, 3, H, W)

    def pipeline(self, accelerator: Accelerator) -> PointClassifierPipeline:
        return PointClassifierPipeline(classifier=accelerator.unwrap_model(self.models["classifier"]).eval())

    def card_info(self):
        c = self.classifier.config
        return {
            "tags": ["point-cloud", "3d", "classification"],
            "description": f"PointNet point-set classifier (per-point widths {tuple(c.widths)})",
            "main_metric": "accuracy",
            "hyperparameters": ["num_points"],
        }


def evaluate_pipeline(pipe: PointClassifierPipeline, loader, accelerator: Accelerator, noise: str | None) -> dict:
    """`genzoo evaluate`: a saved point classifier's accuracy on the held-out sets."""
    return evaluate_accuracy(pipe, loader, accelerator, noise, inputs="points")


def example_points(pipe: PointClassifierPipeline, n: int, generator=None) -> torch.Tensor:
    """`n` sets `(n, num_points, 3)` of points uniform in the cube [-1, 1]^3 (tests and speed benchmarks)."""
    return 2 * torch.rand(n, pipe.classifier.config.num_points, 3, generator=generator) - 1
