"""`AutoencoderPipeline`: reconstruct, encode and denoise images with a trained autoencoder."""

import torch
from diffusers import ImagePipelineOutput

from hf_genzoo.models.autoencoder import ConvAutoencoder, MLPAutoencoder

from .image_io import ImageInput, concat, from_model_output, max_batch, split, to_model_input
from .pipeline_base import GenzooPipeline


class AutoencoderPipeline(GenzooPipeline):
    r"""
    Pipeline for an image autoencoder ([`MLPAutoencoder`] or [`ConvAutoencoder`]).

    ```py
    >>> from hf_genzoo import AutoencoderPipeline
    >>> pipe = AutoencoderPipeline.from_pretrained("genzoo-output")
    >>> recon = pipe(images).images                  # PIL images (the same as pipe.reconstruct(images))
    >>> codes = pipe.encode(images)                   # (B, latent_dim) tensor
    >>> pipe.decode(codes, output_type="np").images   # (B, H, W, C) in [0, 1]
    ```

    Args:
        autoencoder ([`MLPAutoencoder`] or [`ConvAutoencoder`]): the trained model.
    """

    model_cpu_offload_seq = "autoencoder"

    def __init__(self, autoencoder: MLPAutoencoder | ConvAutoencoder):
        super().__init__()
        self.register_modules(autoencoder=autoencoder)

    def _prepare(self, images: ImageInput) -> torch.Tensor:
        cfg = self.autoencoder.config
        return to_model_input(images, cfg.in_channels, cfg.sample_size, self._execution_device, self.autoencoder.dtype)

    @torch.no_grad()
    def encode(self, images: ImageInput, max_batch_size: int = 512, **deprecated) -> torch.Tensor:
        """Codes of `images`: `(B, latent_dim)` for a vector code, `(B, c, h, w)` for a code map; `max_batch_size`
        images per forward pass."""
        x = self._prepare(images)
        codes = concat([self.autoencoder.encode(chunk) for chunk in split(x, max_batch(max_batch_size, deprecated))])
        self.maybe_free_model_hooks()
        return codes

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, output_type: str = "pil", return_dict: bool = True):
        """Images decoded from codes (e.g. from `encode`, or points between two codes)."""
        latents = latents.to(self._execution_device, self.autoencoder.dtype)
        pixels = self.autoencoder.to_pixels(self.autoencoder.decode(latents), inplace=True)
        self.maybe_free_model_hooks()
        images = from_model_output(pixels, output_type)
        return ImagePipelineOutput(images=images) if return_dict else (images,)

    @torch.no_grad()
    def reconstruct(
        self,
        images: ImageInput,
        output_type: str = "pil",
        return_dict: bool = True,
        max_batch_size: int = 512,
        **deprecated,
    ):
        """Encode then decode `images`. Returns `ImagePipelineOutput` with `images` as `output_type`."""
        x, ae = self._prepare(images), self.autoencoder
        out = concat(
            [ae.to_pixels(ae(chunk).sample, inplace=True) for chunk in split(x, max_batch(max_batch_size, deprecated))]
        )
        self.maybe_free_model_hooks()
        images = from_model_output(out, output_type)
        return ImagePipelineOutput(images=images) if return_dict else (images,)

    def denoise(
        self, images: ImageInput, output_type: str = "pil", return_dict: bool = True, max_batch_size: int = 512
    ):
        """Clean corrupted `images` (a denoising autoencoder maps a noisy image to the clean one)."""
        return self.reconstruct(images, output_type, return_dict, max_batch_size)

    def __call__(
        self, images: ImageInput, output_type: str = "pil", return_dict: bool = True, max_batch_size: int = 512
    ):
        """`reconstruct`: the autoencoder's use is to map images to images."""
        return self.reconstruct(images, output_type, return_dict, max_batch_size)
