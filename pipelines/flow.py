"""`FlowPipeline`: sample images at a temperature and compute exact log-likelihoods with a trained `Flow`."""

import torch
from diffusers import ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor

from hf_genzoo.models.flow import Flow

from .image_io import ImageInput, from_model_output, to_model_input
from .pipeline_base import GenzooPipeline


class FlowPipeline(GenzooPipeline):
    r"""
    Pipeline for a normalizing flow ([`Flow`]).

    ```py
    >>> from hf_genzoo import FlowPipeline
    >>> pipe = FlowPipeline.from_pretrained("genzoo-output")
    >>> images = pipe(num_images=16, temperature=0.7).images   # PIL images
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
    def sample(
        self,
        num_images: int = 1,
        temperature: float = 1.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
    ) -> ImagePipelineOutput:
        r"""
        Draw z ~ N(0, T^2 I) and map it through the flow (temperature T < 1 trades diversity for
        quality, [Glow](https://arxiv.org/abs/1807.03039) sec 5.3; T = 0 gives the image of z = 0).

        Args:
            num_images (`int`, *optional*, defaults to 1): how many images.
            temperature (`float`, *optional*, defaults to 1.0): standard deviation T of the latents, >= 0.
            generator (`torch.Generator`, *optional*): makes the sampling deterministic.
            output_type (`str`, *optional*, defaults to `"pil"`): `"pil"`, `"np"` or `"pt"`.
        """
        if num_images < 1:
            raise ValueError(f"num_images must be at least 1, got {num_images}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        flow = self.flow
        z = randn_tensor((num_images, flow.num_dims), generator=generator, device=self.device, dtype=flow.dtype)
        x, _ = flow(temperature * z)  # (B, C, H, W)
        return ImagePipelineOutput(images=from_model_output(flow.to_pixels(x), output_type))

    def __call__(
        self,
        num_images: int = 1,
        temperature: float = 1.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ):
        out = self.sample(num_images, temperature=temperature, generator=generator, output_type=output_type)
        return out if return_dict else (out.images,)

    @torch.no_grad()
    def log_prob(
        self, images: ImageInput, generator: torch.Generator | None = None, batch_size: int = 512
    ) -> torch.Tensor:
        r"""
        Log-likelihood in nats of each image, `(B,)`: the flow's exact density of the dequantized image
        minus D log 256 ([`Flow.log_prob`]).

        Args:
            images: PIL images, numpy uint8 `(B, H, W, C)`, uint8 tensors `(B, C, H, W)` or float tensors in
                [0, 1]; values are rounded to 1/255 steps (8-bit images).
            generator (`torch.Generator`, *optional*): draws the dequantization noise (fix it for
                reproducible numbers).
            batch_size (`int`, *optional*, defaults to 512): images per forward pass.
        """
        if isinstance(images, torch.Tensor) and not images.is_floating_point():
            images = images.float() / 255  # uint8 tensors, like the training batches
        cfg = self.flow.config
        x = to_model_input(images, cfg.in_channels, cfg.sample_size, self.device, self.flow.dtype)
        return torch.cat([self.flow.log_prob(chunk, generator) for chunk in x.split(batch_size)])

    def bits_per_dim(
        self, images: ImageInput, generator: torch.Generator | None = None, batch_size: int = 512
    ) -> torch.Tensor:
        """Bits per dimension of each image, `(B,)`: -log_prob / (D log 2) (see `log_prob`)."""
        return self.flow.to_bits_per_dim(self.log_prob(images, generator, batch_size))
