"""Objective of the classifier: cross-entropy on the dataset's labels (the feature space of the benchmarks).

Loss per batch: cross-entropy of the logits against the labels, with label smoothing 0.1 (Szegedy et al. 2016,
arXiv:1512.00567, Sec. 7), which keeps the penultimate features from collapsing onto the class axes.
Metrics on the held-out split: accuracy, the cross-entropy (no smoothing), and the accuracy per class.
"""

import torch
import torch.nn.functional as F
from accelerate import Accelerator

from hf_genzoo.models.classifier import ImageClassifier
from hf_genzoo.pipelines.classifier import ClassifierPipeline

from ..data import TensorData, to_unit_range
from ..errors import UserInputError
from .config import TrainConfig
from .objective import Objective, build_model

LABEL_SMOOTHING = 0.1


class ClassifierObjective(Objective):
    """Trains an [`ImageClassifier`] on the dataset's labels; see the module docstring."""

    recipe = {
        "epochs": 10,  # fashion_mnist: test accuracy passes 90% within the first epochs, then creeps up
        "learning_rate": 2e-3,
        "lr_scheduler": "cosine",
        "lr_warmup_steps": 100,
        "weight_decay": 5e-4,
        "random_flip": False,  # set it for natural images; digits are not mirror-symmetric
    }

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if data.labels is None:
            raise UserInputError(f"{data.name} has no labels; a classifier needs a label column (--label_column)")
        if cfg.noise:
            raise UserInputError(f"the classifier takes no --noise (got {cfg.noise!r})")
        num_classes = int(data.labels.max()) + 1
        names = list(data.label_names) if data.label_names else None
        mean, std = data.channel_stats()
        self.classifier = build_model(
            ImageClassifier,
            cfg,
            in_channels=data.channels,
            sample_size=data.resolution,
            num_classes=num_classes,
            class_names=names,
            mean=mean,
            std=std,
        )
        self.models = {"classifier": self.classifier}

    def losses(self, batch, step):
        logits = self.models["classifier"](to_unit_range(batch["pixel_values"])).logits  # (B, num_classes)
        yield "classifier", F.cross_entropy(logits.float(), batch["labels"], label_smoothing=LABEL_SMOOTHING)

    @torch.no_grad()
    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        model = self.models["classifier"]
        k = accelerator.unwrap_model(model).config.num_classes
        correct, total = torch.zeros(k, dtype=torch.float64), torch.zeros(k, dtype=torch.float64)
        nll = 0.0
        for batch in loader:
            logits = model(to_unit_range(batch["pixel_values"])).logits.float()
            logits, labels = accelerator.gather_for_metrics((logits, batch["labels"]))
            nll += F.cross_entropy(logits, labels, reduction="sum").item()
            hit = (logits.argmax(-1) == labels).double().cpu()
            correct.index_add_(0, labels.cpu(), hit)
            total.index_add_(0, labels.cpu(), torch.ones_like(hit))
        metrics = {"accuracy": (correct.sum() / total.sum()).item(), "cross_entropy": nll / total.sum().item()}
        per_class = correct / total.clamp_min(1)
        metrics["worst_class_accuracy"] = per_class[total > 0].min().item()
        return metrics

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        """Held-out images, sorted into rows: correctly classified on top, mistakes below."""
        x = to_unit_range(batch["pixel_values"])  # (N, C, H, W)
        right = self.models["classifier"](x).logits.argmax(-1) == batch["labels"]
        right = right.view(-1, 1, 1, 1)
        return torch.stack(
            [torch.where(right, x, torch.zeros_like(x)), torch.where(right, torch.zeros_like(x), x)]
        ).cpu()

    def pipeline(self, accelerator: Accelerator) -> ClassifierPipeline:
        return ClassifierPipeline(classifier=accelerator.unwrap_model(self.models["classifier"]).eval())

    def card_info(self):
        return {
            "tags": ["image-classification", "feature-extractor"],
            "description": "Image classifier (the feature space of hf_genzoo's sample-quality metrics)",
            "main_metric": "accuracy",
        }


def evaluate_pipeline(
    pipe: ClassifierPipeline, loader, accelerator: Accelerator, noise: str | None, inputs: str = "pixel_values"
) -> dict:
    """`genzoo evaluate`: a saved classifier's accuracy on the held-out examples (the batch key `inputs`: images, or
    a point classifier's `points`)."""
    if noise:
        raise UserInputError("`genzoo evaluate --noise` is for autoencoders; a classifier is evaluated on clean inputs")
    pipe.to(accelerator.device)
    right = total = 0
    for batch in loader:
        labels = pipe(batch[inputs]).labels.cpu()
        right, total = right + int((labels == batch["labels"].cpu()).sum()), total + len(labels)
    return {"accuracy": right / total}
