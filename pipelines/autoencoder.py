"""`AutoencoderPipeline`: reconstruct, encode and denoise images with a trained autoencoder."""

import torch
from diffusers import ImagePipelineOutput

from hf_genzoo.models.autoencoder import ConvAutoencoder, MLPAutoencoder

from .image_io import ImageInput, from_model_output, to_model_input
from .pipeline_base import GenzooPipeline


class AutoencoderPipeline(GenzooPipeline):
    r"""
    Pipeline for an image autoencoder ([`MLPAutoencoder`] or [`ConvAutoencoder`]).

    ```py
    >>> from hf_genzoo import AutoencoderPipeline
    >>> pipe = AutoencoderPipeline.from_pretrained("genzoo-output")
    >>> recon = pipe.reconstruct(images).images      # PIL images
    >>> codes = pipe.encode(images)                   # (B, latent_dim) tensor
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
        return to_model_input(images, cfg.in_channels, cfg.sample_size, self.device, self.autoencoder.dtype)

    @torch.no_grad()
    def encode(self, images: ImageInput, batch_size: int = 512) -> torch.Tensor:
        """Codes of `images`: `(B, latent_dim)` for a vector code, `(B, c, h, w)` for a code map."""
        x = self._prepare(images)
        return torch.cat([self.autoencoder.encode(chunk) for chunk in x.split(batch_size)])

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, output_type: str = "pil") -> ImagePipelineOutput:
        """Images decoded from codes (e.g. from `encode`, or points between two codes)."""
        latents = latents.to(self.device, self.autoencoder.dtype)
        pixels = self.autoencoder.to_pixels(self.autoencoder.decode(latents))
        return ImagePipelineOutput(images=from_model_output(pixels, output_type))

    @torch.no_grad()
    def reconstruct(self, images: ImageInput, output_type: str = "pil", batch_size: int = 512):
        """Encode then decode `images`. Returns `ImagePipelineOutput` with `images` as `output_type`."""
        x = self._prepare(images)
        ae = self.autoencoder
        out = torch.cat([ae.to_pixels(ae(chunk).sample) for chunk in x.split(batch_size)])
        return ImagePipelineOutput(images=from_model_output(out, output_type))

    def denoise(self, images: ImageInput, output_type: str = "pil", batch_size: int = 512):
        """Clean corrupted `images` (a denoising autoencoder maps a noisy image to the clean one)."""
        return self.reconstruct(images, output_type=output_type, batch_size=batch_size)

    def __call__(self, images: ImageInput, output_type: str = "pil", return_dict: bool = True):
        out = self.reconstruct(images, output_type=output_type)
        return out if return_dict else (out.images,)
