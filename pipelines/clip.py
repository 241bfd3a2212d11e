"""`CLIPPipeline`: how well images and texts agree, in a trained CLIP's embedding space (and its CLIP score)."""

from dataclasses import dataclass

import torch
from diffusers.utils import BaseOutput
from transformers import CLIPModel, CLIPTokenizer

from .image_io import ImageInput, max_batch, split, to_model_input
from .pipeline_base import GenzooPipeline


@dataclass
class CLIPOutput(BaseOutput):
    """
    Args:
        similarity (`torch.Tensor` of shape `(B,)`): cosine similarity of image i and text i.
        clip_score (`torch.Tensor` of shape `(B,)`): 100 * max(similarity, 0) (Hessel et al. 2021).
    """

    similarity: torch.Tensor
    clip_score: torch.Tensor


class CLIPPipeline(GenzooPipeline):
    r"""
    Pipeline for a [`CLIPModel`] and its [`CLIPTokenizer`], as `genzoo train clip` makes them. Its folder is what
    `genzoo train text2image --text_encoder` takes (the text tower conditions the UNet); both towers score
    image-text agreement. Images are in [0, 1], scaled to [-1, 1] for the vision tower, as in training.

    ```py
    >>> from hf_genzoo import CLIPPipeline
    >>> pipe = CLIPPipeline.from_pretrained("my-clip")
    >>> pipe(images, ["a photo of a sneaker", "a trouser"]).clip_score    # one score per (image, text) pair
    >>> pipe.encode_text(["a red circle"])                                # (1, projection_dim), unit norm
    ```

    Args:
        clip ([`CLIPModel`]): both towers and their projections.
        tokenizer ([`CLIPTokenizer`]): the tokenizer the text tower was trained with.
    """

    model_cpu_offload_seq = "clip"

    def __init__(self, clip: CLIPModel, tokenizer: CLIPTokenizer):
        super().__init__()
        self.register_modules(clip=clip, tokenizer=tokenizer)

    def tokenize(self, texts: str | list[str]) -> dict[str, torch.Tensor]:
        """Token ids and attention masks, padded and truncated to the tokenizer's `model_max_length`."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        tokens = self.tokenizer(texts, padding="max_length", truncation=True, return_tensors="pt")
        return {k: v.to(self._execution_device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}

    @torch.no_grad()
    def encode_text(self, texts: str | list[str], max_batch_size: int = 512, **deprecated) -> torch.Tensor:
        """Unit-norm text embeddings `(B, projection_dim)`."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        step = max_batch(max_batch_size, deprecated)
        embeds = [self.clip.get_text_features(**self.tokenize(texts[i : i + step])) for i in range(0, len(texts), step)]
        self.maybe_free_model_hooks()
        return torch.nn.functional.normalize(torch.cat([_pooled(e) for e in embeds]).float(), dim=-1)

    @torch.no_grad()
    def encode_images(self, images: ImageInput, max_batch_size: int = 512, **deprecated) -> torch.Tensor:
        """Unit-norm image embeddings `(B, projection_dim)` of images in [0, 1] (PIL, numpy or tensors)."""
        cfg = self.clip.config.vision_config
        x = to_model_input(images, cfg.num_channels, cfg.image_size, self._execution_device, self.clip.dtype)
        chunks = split(x.mul(2).sub_(1), max_batch(max_batch_size, deprecated))  # to [-1, 1], one new tensor
        embeds = torch.cat([_pooled(self.clip.get_image_features(pixel_values=chunk)) for chunk in chunks])
        self.maybe_free_model_hooks()
        return torch.nn.functional.normalize(embeds.float(), dim=-1)

    def __call__(self, images: ImageInput, texts: str | list[str], return_dict: bool = True, max_batch_size: int = 512):
        r"""
        Agreement of image i with text i: cosine similarity and CLIP score (Hessel et al. 2021, arXiv:2104.08718,
        with w = 100 rather than 2.5: the score of the text-to-image literature).

        Args:
            images: `B` images (PIL, numpy or tensors in [0, 1]).
            texts (`str` or `list[str]`): one text for all, or one per image.
            return_dict (`bool`, *optional*, defaults to `True`): a `CLIPOutput`, else `(similarity, clip_score)`.
        """
        image_embeds = self.encode_images(images, max_batch_size)
        texts = [texts] * len(image_embeds) if isinstance(texts, str) else texts
        similarity = (image_embeds * self.encode_text(texts, max_batch_size)).sum(-1)  # (B,)
        out = CLIPOutput(similarity=similarity, clip_score=100 * similarity.clamp_min(0))
        return out if return_dict else out.to_tuple()


def _pooled(features) -> torch.Tensor:
    """transformers 5 returns the projected features as a tensor, or as an output whose `pooler_output` holds them."""
    return features if isinstance(features, torch.Tensor) else features.pooler_output
