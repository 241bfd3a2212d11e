"""A classifier of 3-D point sets: PointNet without its transformer networks.

PointNet (Qi et al. 2017, arXiv:1612.00593, Sec. 4.2 and Fig. 2): one MLP shared by every point (here 1x1
convolutions over the points, each followed by BatchNorm and ReLU), then a max-pool over the points, the
symmetric function that makes the pooled feature vector the same for any order of the points and any number of
them; an MLP head with dropout maps it to the class logits. The input and feature T-nets of the paper are left out:
the paper's own ablation (Table 5) credits them with about 2 points of ModelNet40 accuracy (87.1% to 89.2%),
and rotations are taught by augmentation instead (`hf_genzoo/training/point_classifier.py`).

It checks that class-conditional samples of a point-cloud diffusion model are recognised as their class, the role
`ImageClassifier` plays for images. Point sets are taken as training takes them: centred and scaled into the unit
ball (`hf_genzoo.data.points`; the pipeline does it for you).
"""

from collections.abc import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from ..errors import UserInputError
from .classifier import ClassifierOutput


class PointClassifier(ModelMixin, ConfigMixin):
    r"""
    PointNet classifier (no T-nets) with a `features` output: the max-pooled per-point features.

    Args:
        num_classes (`int`, *optional*, defaults to 10): number of labels.
        widths (`tuple[int]`, *optional*, defaults to `(64, 128, 256)`): widths of the shared per-point MLP; the last is
            the feature dimension (the paper: 64-64-64-128-1024, for ModelNet40's 40 classes).
        head_widths (`tuple[int]`, *optional*, defaults to `(128,)`): hidden widths of the head (the paper: 512-256).
        dropout (`float`, *optional*, defaults to 0.3): dropout before the head's last layer (the paper: keep 0.7).
        num_points (`int`, *optional*, defaults to 1024): points per set in training, what `genzoo evaluate` loads;
            the model itself takes any number.
        class_names (`list[str]`, *optional*): label names, kept for display.
    """

    @register_to_config
    def __init__(
        self,
        *,
        num_classes: int = 10,
        widths: Sequence[int] = (64, 128, 256),
        head_widths: Sequence[int] = (128,),
        dropout: float = 0.3,
        num_points: int = 1024,
        class_names: list[str] | None = None,
    ):
        super().__init__()
        if num_classes < 2:
            raise UserInputError(f"a classifier needs at least 2 classes, got {num_classes}")
        if not widths:
            raise UserInputError("widths must name at least one layer of the per-point MLP, e.g. (64, 128, 256)")
        layers, c = [], 3
        for width in widths:  # 1x1 convolutions: the same MLP on every point
            layers += [nn.Conv1d(c, width, 1, bias=False), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            c = width
        self.point_mlp = nn.Sequential(*layers)
        head = []
        for width in head_widths:
            head += [nn.Linear(c, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            c = width
        self.head = nn.Sequential(*head, nn.Dropout(dropout), nn.Linear(c, num_classes))

    @property
    def feature_dim(self) -> int:
        return self.config.widths[-1]

    def forward(self, points: torch.Tensor, return_dict: bool = True) -> ClassifierOutput | tuple:
        """`points` `(B, N, 3)`, any N -> logits `(B, num_classes)` and features `(B, feature_dim)`."""
        x = self.point_mlp(points.transpose(1, 2))  # (B, feature_dim, N)
        features = x.amax(dim=2)  # (B, feature_dim): the symmetric max-pool over the points
        logits = self.head(features)  # (B, num_classes)
        return ClassifierOutput(logits=logits, features=features) if return_dict else (logits, features)
