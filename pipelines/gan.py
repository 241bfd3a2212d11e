"""`GANPipeline`: sample images from a trained DCGAN generator, walk its latent space, score images with its
discriminator.

A latent walk follows the great circle between two Gaussian latents (spherical interpolation, White,
"Sampling Generative Networks", 2016, arXiv:1609.04468): in high dimensions z ~ N(0, I) concentrates on a
shell of radius sqrt(d), and a straight line between two samples cuts through its low-probability interior.
"""

import torch
from diffusers import ImagePipelineOutput

from hf_genzoo.errors import UserInputError
from hf_genzoo.models.gan import Discriminator, Generator

from .image_io import (
    ImageInput,
    check_batch_size,
    from_model_output,
    latents_or_noise,
    max_batch,
    split,
    to_model_input,
)
from .pipeline_base import GenzooPipeline

PARALLEL_COS = 0.9995  # above this |cos| of the angle between the latents, slerp falls back to a straight line


def slerp(t: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    r"""
    Spherical interpolation (White 2016, eq. 1): `sin((1 - t) w) / sin(w) z0 + sin(t w) / sin(w) z1` with `w`
    the angle between `z0` and `z1`; exactly `z0` at t = 0 and `z1` at t = 1.

    Args:
        t (`torch.Tensor` of shape `(T,)`): positions in [0, 1].
        z0, z1 (`torch.Tensor` of shape `(D,)`): the end points.

    Returns:
        `torch.Tensor` of shape `(T, D)`.
    """
    t = t[:, None]  # (T, 1)
    cos = torch.dot(z0 / z0.norm(), z1 / z1.norm()).clamp(-1, 1)
    if cos.abs() > PARALLEL_COS:
        return (1 - t) * z0 + t * z1
    omega = torch.arccos(cos)
    c0, c1 = torch.sin((1 - t) * omega) / torch.sin(omega), torch.sin(t * omega) / torch.sin(omega)  # (T, 1) each
    return c0 * z0 + c1 * z1  # (T, D)


class GANPipeline(GenzooPipeline):
    r"""
    Pipeline for a DCGAN [`Generator`] and, when saved with it, its [`Discriminator`].

    ```py
    >>> import torch
    >>> from hf_genzoo import GANPipeline
    >>> pipe = GANPipeline.from_pretrained("genzoo-output")
    >>> images = pipe(batch_size=16, generator=torch.Generator().manual_seed(0)).images  # PIL images
    >>> walk = pipe.latent_walk(steps=8, generator=torch.Generator().manual_seed(1)).images
    >>> realness = pipe.discriminate(images)  # D(x) in (0, 1), needs the discriminator
    ```

    Args:
        generator ([`Generator`]): maps z ~ N(0, I) to images in [-1, 1].
        discriminator ([`Discriminator`], *optional*): the adversary it was trained against; kept for resuming
            and evaluation, not needed for sampling. `from_pretrained(path, discriminator=None)` skips loading it.
    """

    model_cpu_offload_seq = "generator"
    _optional_components = ["discriminator"]

    def __init__(self, generator: Generator, discriminator: Discriminator | None = None):
        super().__init__()
        self.register_modules(generator=generator, discriminator=discriminator)

    def prepare_latents(self, batch_size: int, generator=None, latents: torch.Tensor | None = None) -> torch.Tensor:
        """z `(batch_size, latent_dim)`: `latents` checked, or drawn from N(0, I) with `generator`."""
        shape = (batch_size, self.generator.config.latent_dim)
        return latents_or_noise(shape, generator, self._execution_device, self.generator.dtype, latents)

    def _decode(self, latents: torch.Tensor, output_type: str, return_dict: bool):
        images = self.generator(latents).sample  # (B, C, H, W) in [-1, 1]
        self.maybe_free_model_hooks()
        images = from_model_output((images.float() + 1) / 2, output_type)
        return ImagePipelineOutput(images=images) if return_dict else (images,)

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        **deprecated,
    ):
        r"""
        Sample images: z ~ N(0, I), x = G(z), mapped from [-1, 1] to [0, 1].

        Args:
            batch_size (`int`, *optional*, defaults to 1): how many images (`num_images` is its deprecated name).
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): makes the sampling deterministic.
            latents (`torch.Tensor` of shape `(batch_size, latent_dim)`, *optional*): given z instead of drawing it.
            output_type (`str`, *optional*, defaults to `"pil"`): `"pil"`, `"np"` (`(B, H, W, C)`) or `"pt"`
                (`(B, C, H, W)`), values in [0, 1].
            return_dict (`bool`, *optional*, defaults to `True`): an `ImagePipelineOutput` rather than a tuple.
        """
        batch_size = check_batch_size(batch_size, deprecated)
        return self._decode(self.prepare_latents(batch_size, generator, latents), output_type, return_dict)

    @torch.no_grad()
    def latent_walk(
        self,
        steps: int = 8,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ):
        r"""
        Images along the great circle between two latents (spherical interpolation, arXiv:1609.04468).

        Args:
            steps (`int`, *optional*, defaults to 8): images on the path, both end points included.
            generator (`torch.Generator`, *optional*): draws the two end points; with the same seed they are the
                two images of `pipe(batch_size=2, generator=...)`.
            latents (`torch.Tensor` of shape `(2, latent_dim)`, *optional*): the end points instead.
            output_type (`str`, *optional*, defaults to `"pil"`): as in `__call__`.
            return_dict (`bool`, *optional*, defaults to `True`): an `ImagePipelineOutput` rather than a tuple.
        """
        if steps < 2:
            raise UserInputError(f"steps must be at least 2 (the two end points), got {steps}")
        z0, z1 = self.prepare_latents(2, generator, latents).float()  # (D,) each
        t = torch.linspace(0, 1, steps, device=z0.device, dtype=torch.float32)
        path = slerp(t, z0, z1).to(self.generator.dtype)  # (steps, D)
        return self._decode(path, output_type, return_dict)

    @torch.no_grad()
    def discriminate(self, images: ImageInput, max_batch_size: int = 512, **deprecated) -> torch.Tensor:
        """D(x): the discriminator's probability `(B,)` that each image (PIL, numpy or tensor in [0, 1]) is real."""
        if self.discriminator is None:
            raise UserInputError("this GANPipeline has no discriminator; load one saved with it to score images")
        cfg, device = self.discriminator.config, self._execution_device
        x = to_model_input(images, cfg.in_channels, cfg.sample_size, device, self.discriminator.dtype)
        chunks = split(x, max_batch(max_batch_size, deprecated))
        logits = torch.cat([self.discriminator(2 * chunk - 1).logits for chunk in chunks])  # (B,)
        return torch.sigmoid(logits.float())
