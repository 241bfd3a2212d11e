"""`AutoencoderKLPipeline`: reconstruct images with, and encode them into, the latents of a trained `AutoencoderKL`."""

import torch
from diffusers import AutoencoderKL, ImagePipelineOutput

from .image_io import ImageInput, from_model_output, max_batch, split, to_model_input
from .pipeline_base import GenzooPipeline


class AutoencoderKLPipeline(GenzooPipeline):
    r"""
    Pipeline for diffusers' [`AutoencoderKL`], the VAE of latent diffusion. Its folder is what
    `genzoo train text2image --vae` takes (the model is in `vae/`, as in a Stable Diffusion pipeline).

    ```py
    >>> from hf_genzoo import AutoencoderKLPipeline
    >>> pipe = AutoencoderKLPipeline.from_pretrained("my-vae")
    >>> recon = pipe(images).images                 # decoded posterior means, PIL images
    >>> latents = pipe.encode(images)               # (B, 4, h, w), scaled by vae.config.scaling_factor
    >>> pipe.decode(latents, output_type="pt").images
    ```

    Args:
        vae ([`AutoencoderKL`]): the trained model; images in [-1, 1] inside, [0, 1] outside.
    """

    model_cpu_offload_seq = "vae"

    def __init__(self, vae: AutoencoderKL):
        super().__init__()
        self.register_modules(vae=vae)

    def _prepare(self, images: ImageInput) -> torch.Tensor:
        cfg = self.vae.config
        x = to_model_input(images, cfg.in_channels, cfg.sample_size, self._execution_device, self.vae.dtype)
        return 2 * x - 1  # (B, C, H, W) in [-1, 1]

    @torch.no_grad()
    def encode(self, images: ImageInput, max_batch_size: int = 256, **deprecated) -> torch.Tensor:
        """Posterior means of `images`, times the VAE's `scaling_factor`: the latents a diffusion model sees."""
        chunks = split(self._prepare(images), max_batch(max_batch_size, deprecated))
        latents = torch.cat([self.vae.encode(chunk).latent_dist.mode() for chunk in chunks])
        self.maybe_free_model_hooks()
        return latents * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, output_type: str = "pil", return_dict: bool = True):
        """Images decoded from (scaled) latents, as `encode` gives them."""
        latents = latents.to(self._execution_device, self.vae.dtype) / self.vae.config.scaling_factor
        pixels = (self.vae.decode(latents).sample.float().clamp(-1, 1) + 1) / 2  # (B, C, H, W) in [0, 1]
        self.maybe_free_model_hooks()
        images = from_model_output(pixels, output_type)
        return ImagePipelineOutput(images=images) if return_dict else (images,)

    def reconstruct(
        self, images: ImageInput, output_type: str = "pil", return_dict: bool = True, max_batch_size: int = 256
    ):
        """Encode then decode `images` (the posterior means: deterministic)."""
        return self.decode(self.encode(images, max_batch_size), output_type, return_dict)

    def __call__(
        self, images: ImageInput, output_type: str = "pil", return_dict: bool = True, max_batch_size: int = 256
    ):
        """`reconstruct`: an autoencoder maps images to images."""
        return self.reconstruct(images, output_type, return_dict, max_batch_size)
