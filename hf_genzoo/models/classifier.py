"""An image classifier whose penultimate layer is the feature space of the generative benchmarks.

No Inception weights can be downloaded here, so sample quality is measured in the features of a
classifier trained on the dataset itself (FD_local, KID_local, precision/recall in `hf_genzoo.metrics`).
The network is a small VGG-style CNN (Simonyan & Zisserman 2015, arXiv:1409.1556): blocks of two
3x3 conv-BatchNorm-ReLU layers and a 2x2 max-pool, then global average pooling to the feature vector,
dropout and one linear layer to the class logits. Images are standardized inside the model (the
training set's per-channel mean and std are part of its config), so it takes images in [0, 1].
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..errors import UserInputError


@dataclass
class ClassifierOutput(BaseOutput):
    """
    Args:
        logits (`torch.Tensor` of shape `(B, num_classes)`): class scores before the softmax.
        features (`torch.Tensor` of shape `(B, feature_dim)`): the pooled penultimate activations.
    """

    logits: torch.Tensor
    features: torch.Tensor


class ImageClassifier(ModelMixin, ConfigMixin):
    r"""
    VGG-style CNN classifier with a `features` output.

    Args:
        in_channels (`int`, *optional*, defaults to 1): image channels.
        sample_size (`int`, *optional*, defaults to 28): image side, at least 2 ** len(block_out_channels).
        num_classes (`int`, *optional*, defaults to 10): number of labels.
        block_out_channels (`tuple[int]`, *optional*, defaults to `(32, 64, 128)`): widths of the conv blocks; the
            last is the feature dimension.
        dropout (`float`, *optional*, defaults to 0.3): dropout before the linear layer (training only).
        class_names (`list[str]`, *optional*): label names, kept for display.
        mean, std (`list[float]`, *optional*): per-channel statistics of the training images in [0, 1].
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 1,
        sample_size: int = 28,
        num_classes: int = 10,
        *,
        block_out_channels: Sequence[int] = (32, 64, 128),
        dropout: float = 0.3,
        class_names: list[str] | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ):
        super().__init__()
        if sample_size < 2 ** len(block_out_channels):  # each block halves the side (rounding down)
            raise UserInputError(
                f"{len(block_out_channels)} max-pools need a side of at least {2 ** len(block_out_channels)}; got "
                f"{sample_size}. Pass fewer block_out_channels in --model_config, or a larger --resolution"
            )
        if num_classes < 2:
            raise UserInputError(f"a classifier needs at least 2 classes, got {num_classes}")
        self.register_buffer(
            "pixel_mean", torch.tensor(mean or [0.5] * in_channels).view(1, -1, 1, 1), persistent=False
        )
        self.register_buffer("pixel_std", torch.tensor(std or [0.5] * in_channels).view(1, -1, 1, 1), persistent=False)
        layers, c = [], in_channels
        for width in block_out_channels:
            for _ in range(2):
                layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                c = width
            layers.append(nn.MaxPool2d(2))
        self.conv = nn.Sequential(*layers)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(c, num_classes)

    @property
    def feature_dim(self) -> int:
        return self.config.block_out_channels[-1]

    def forward(self, images: torch.Tensor, return_dict: bool = True) -> ClassifierOutput | tuple:
        """`images` `(B, C, H, W)` in [0, 1] -> logits `(B, num_classes)` and features `(B, feature_dim)`."""
        x = (images - self.pixel_mean) / self.pixel_std
        features = self.conv(x).mean(dim=(2, 3))  # (B, feature_dim): global average pooling
        logits = self.head(self.drop(features))  # (B, num_classes)
        return ClassifierOutput(logits=logits, features=features) if return_dict else (logits, features)
