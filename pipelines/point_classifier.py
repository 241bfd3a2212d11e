"""`PointClassifierPipeline`: labels and feature vectors of 3-D point sets, from a trained `PointClassifier`."""

import numpy as np
import torch

from hf_genzoo.errors import UserInputError
from hf_genzoo.models.point_classifier import PointClassifier

from .classifier import ClassificationOutput
from .image_io import split
from .pipeline_base import GenzooPipeline

PointInput = np.ndarray | torch.Tensor | list


def to_point_sets(points: PointInput, device, dtype=torch.float32, normalize: bool = True) -> torch.Tensor:
    """Point sets, numpy or torch, `(B, N, 3)` or one set `(N, 3)` -> float `(B, N, 3)` on `device`; with
    `normalize`, each set centred on its mean and scaled into the unit ball, as the `point_sets` data kind does."""
    expected = "point sets must be (B, N, 3) or (N, 3) arrays of xyz coordinates (the point_sets data kind), N >= 1"
    if isinstance(points, torch.Tensor):
        x = points.detach()
    else:
        try:
            x = torch.as_tensor(np.asarray(points, dtype=np.float32))
        except (TypeError, ValueError) as err:  # sets of different sizes in one list, or not numbers
            raise UserInputError(f"{expected}; got a {type(points).__name__} that is not one array ({err})") from None
    given = tuple(x.shape)
    x = x[None] if x.ndim == 2 else x
    if x.ndim != 3 or x.shape[-1] != 3 or x.shape[1] == 0:
        raise UserInputError(f"{expected}; got shape {given}")
    x = x.to(device=device, dtype=torch.float32)
    if not torch.isfinite(x).all():
        raise UserInputError("point sets must have finite coordinates; these hold NaN or infinite values")
    if normalize:
        x = x - x.mean(dim=1, keepdim=True)
        x = x / x.norm(dim=2).amax(dim=1).clamp_min(1e-8).view(-1, 1, 1)  # (B, N, 3) in the unit ball
    return x.to(dtype)


class PointClassifierPipeline(GenzooPipeline):
    r"""
    Pipeline for a [`PointClassifier`]: classify 3-D point sets, or embed them in the classifier's feature space
    (to check that a point-cloud generator's class-conditional samples are recognised as their class).

    ```py
    >>> from hf_genzoo import PointClassifierPipeline
    >>> pipe = PointClassifierPipeline.from_pretrained("point-classifier-shapes3d")
    >>> out = pipe(points)               # points (B, N, 3); out.labels (B,), out.probs (B, num_classes), out.names
    >>> feats = pipe.features(points)    # (B, feature_dim)
    ```

    Args:
        classifier ([`PointClassifier`]): the trained model.
    """

    model_cpu_offload_seq = "classifier"

    def __init__(self, classifier: PointClassifier):
        super().__init__()
        self.register_modules(classifier=classifier)

    def _outputs(self, points: PointInput, max_batch_size: int, normalize: bool):
        x = to_point_sets(points, self._execution_device, self.classifier.dtype, normalize)  # (B, N, 3)
        outputs = [self.classifier(chunk) for chunk in split(x, max_batch_size)]
        self.maybe_free_model_hooks()
        return outputs

    @torch.no_grad()
    def features(self, points: PointInput, max_batch_size: int = 512, normalize: bool = True) -> torch.Tensor:
        """Max-pooled features `(B, feature_dim)` (float32) of point sets `(B, N, 3)` (numpy or torch)."""
        return torch.cat([out.features.float() for out in self._outputs(points, max_batch_size, normalize)])

    @torch.no_grad()
    def __call__(self, points: PointInput, max_batch_size: int = 512, normalize: bool = True, return_dict: bool = True):
        r"""
        Classify point sets.

        Args:
            points (`np.ndarray` or `torch.Tensor`): `(B, N, 3)` sets of N points each (any N), or one set `(N, 3)`.
            max_batch_size (`int`, *optional*, defaults to 512): sets per forward pass.
            normalize (`bool`, *optional*, defaults to `True`): centre each set and scale it into the unit ball first,
                as the training sets were; pass `False` for sets already normalized that way.
            return_dict (`bool`, *optional*, defaults to `True`): a `ClassificationOutput`, or the tuple
                `(labels, probs, names)` (without names when the model has none).
        """
        outputs = self._outputs(points, max_batch_size, normalize)
        probs = torch.cat([out.logits.float().softmax(-1) for out in outputs])  # (B, num_classes)
        labels = probs.argmax(-1)
        names = self.classifier.config.class_names
        out = ClassificationOutput(
            labels=labels, probs=probs, names=[names[i] for i in labels.tolist()] if names else None
        )
        return out if return_dict else out.to_tuple()
