"""`ClassifierPipeline`: labels and feature vectors of images, from a trained `ImageClassifier`."""

from dataclasses import dataclass

import torch
from diffusers.utils import BaseOutput

from hf_genzoo.models.classifier import ImageClassifier

from .image_io import ImageInput, max_batch, split, to_model_input
from .pipeline_base import GenzooPipeline


@dataclass
class ClassificationOutput(BaseOutput):
    """
    Args:
        labels (`torch.Tensor` of shape `(B,)`): the most probable class of each image.
        probs (`torch.Tensor` of shape `(B, num_classes)`): class probabilities.
        names (`list[str]` or `None`): the labels' names, when the model knows them.
    """

    labels: torch.Tensor
    probs: torch.Tensor
    names: list[str] | None


class ClassifierPipeline(GenzooPipeline):
    r"""
    Pipeline for an [`ImageClassifier`]: classify images, or embed them in the classifier's feature space
    (the space of FD_local, KID_local and precision/recall in `hf_genzoo.metrics`).

    ```py
    >>> from hf_genzoo import ClassifierPipeline
    >>> pipe = ClassifierPipeline.from_pretrained("classifier-fashion")
    >>> out = pipe(images)               # out.labels (B,), out.probs (B, num_classes), out.names
    >>> feats = pipe.features(images)    # (B, feature_dim)
    ```

    Args:
        classifier ([`ImageClassifier`]): the trained model.
    """

    model_cpu_offload_seq = "classifier"

    def __init__(self, classifier: ImageClassifier):
        super().__init__()
        self.register_modules(classifier=classifier)

    def _outputs(self, images: ImageInput, max_batch_size: int):
        cfg = self.classifier.config
        x = to_model_input(images, cfg.in_channels, cfg.sample_size, self._execution_device, self.classifier.dtype)
        outputs = [self.classifier(chunk) for chunk in split(x, max_batch_size)]
        self.maybe_free_model_hooks()
        return outputs

    @torch.no_grad()
    def features(self, images: ImageInput, max_batch_size: int = 512, **deprecated) -> torch.Tensor:
        """Penultimate-layer features `(B, feature_dim)` (float32) of `images` (PIL, numpy or tensors in [0, 1])."""
        outputs = self._outputs(images, max_batch(max_batch_size, deprecated))
        return torch.cat([out.features.float() for out in outputs])

    @torch.no_grad()
    def __call__(self, images: ImageInput, max_batch_size: int = 512, return_dict: bool = True, **deprecated):
        r"""
        Classify `images` (PIL, numpy or tensors in [0, 1]), `max_batch_size` per forward pass.

        Returns a `ClassificationOutput` (labels, probabilities, names), or with `return_dict=False` the tuple
        `(labels, probs, names)` (without names when the model has none).
        """
        outputs = self._outputs(images, max_batch(max_batch_size, deprecated))
        probs = torch.cat([out.logits.float().softmax(-1) for out in outputs])
        labels = probs.argmax(-1)
        names = self.classifier.config.class_names
        out = ClassificationOutput(
            labels=labels, probs=probs, names=[names[i] for i in labels.tolist()] if names else None
        )
        return out if return_dict else out.to_tuple()
