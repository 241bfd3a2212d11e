"""`FlowPipeline`: sample images at a temperature and compute exact log-likelihoods with a trained `Flow`."""

import warnings

import torch
from diffusers import ImagePipelineOutput

from hf_genzoo.errors import UserInputError
from hf_genzoo.models.flow import Flow

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


class FlowPipeline(GenzooPipeline):
    r"""
    Pipeline for a normalizing flow ([`Flow`]).

    ```py
    >>> from hf_genzoo import FlowPipeline
    >>> pipe = FlowPipeline.from_pretrained("genzoo-output")
    >>> images = pipe(batch_size=16, temperature=0.7).images   # PIL images
    >>> pipe.bits_per_dim(images)                               # (16,) tensor
    ```

    Args:
        flow ([`Flow`]): the trained flow.
    """

    model_cpu_offload_seq = "flow"

    def __init__(self, flow: Flow):
        super().__init__()
        self.register_modules(flow=flow)

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        temperature: float = 1.0,
        **deprecated,
    ):
        r"""
        Draw z ~ N(0, T^2 I) and map it through the flow (temperature T < 1 trades diversity for
        quality, [Glow](https://arxiv.org/abs/1807.03039) sec 5.3; T = 0 gives the image of z = 0).

        Args:
            batch_size (`int`, *optional*, defaults to 1): how many images (`num_images` is its deprecated name).
            generator (`torch.Generator`, *optional*): makes the sampling deterministic.
            latents (`torch.Tensor` of shape `(batch_size, D)`, *optional*): standard normal z to use instead of
                drawing them (they are scaled by the temperature too); D = C * H * W.
            output_type (`str`, *optional*, defaults to `"pil"`): `"pil"`, `"np"` or `"pt"`.
            return_dict (`bool`, *optional*, defaults to `True`): an `ImagePipelineOutput`, else a tuple.
            temperature (`float`, *optional*, defaults to 1.0): standard deviation T of the latents, >= 0.
        """
        batch_size = check_batch_size(batch_size, deprecated)
        if temperature < 0:
            raise UserInputError(f"temperature must be >= 0, got {temperature}")
        z = self.prepare_latents(batch_size, generator, latents)
        x = self.flow(z if temperature == 1 else temperature * z).sample  # (B, C, H, W)
        self.maybe_free_model_hooks()
        images = from_model_output(self.flow.to_pixels(x), output_type)
        return ImagePipelineOutput(images=images) if return_dict else (images,)

    def prepare_latents(self, batch_size: int, generator=None, latents: torch.Tensor | None = None) -> torch.Tensor:
        """z `(batch_size, D)` of the standard normal base: `latents` checked, or drawn with `generator`."""
        shape = (batch_size, self.flow.num_dims)
        return latents_or_noise(shape, generator, self._execution_device, self.flow.dtype, latents)

    def sample(self, num_images: int = 1, temperature: float = 1.0, generator=None, output_type: str = "pil"):
        """Deprecated: call the pipeline, `pipe(batch_size=..., temperature=..., generator=...)`."""
        warnings.warn("FlowPipeline.sample is deprecated; call the pipeline: pipe(batch_size=...)", FutureWarning, 2)
        return self(batch_size=num_images, generator=generator, output_type=output_type, temperature=temperature)

    @torch.no_grad()
    def log_prob(
        self, images: ImageInput, generator: torch.Generator | None = None, max_batch_size: int = 512, **deprecated
    ) -> torch.Tensor:
        r"""
        Log-likelihood in nats of each image, `(B,)`: the flow's exact density of the dequantized image
        minus D log 256 ([`Flow.log_prob`]).

        Args:
            images: PIL images, numpy uint8 `(B, H, W, C)`, uint8 tensors `(B, C, H, W)` or float tensors in
                [0, 1]; values are rounded to 1/255 steps (8-bit images).
            generator (`torch.Generator`, *optional*): draws the dequantization noise (fix it for
                reproducible numbers).
            max_batch_size (`int`, *optional*, defaults to 512): images per forward pass.
        """
        if isinstance(images, torch.Tensor) and not images.is_floating_point():
            images = images.float() / 255  # uint8 tensors, like the training batches
        cfg = self.flow.config
        x = to_model_input(images, cfg.in_channels, cfg.sample_size, self._execution_device, self.flow.dtype)
        chunks = split(x, max_batch(max_batch_size, deprecated))
        log_prob = torch.cat([self.flow.log_prob(chunk, generator) for chunk in chunks])
        self.maybe_free_model_hooks()
        return log_prob

    def bits_per_dim(
        self, images: ImageInput, generator: torch.Generator | None = None, max_batch_size: int = 512
    ) -> torch.Tensor:
        """Bits per dimension of each image, `(B,)`: -log_prob / (D log 2) (see `log_prob`)."""
        return self.flow.to_bits_per_dim(self.log_prob(images, generator, max_batch_size))
