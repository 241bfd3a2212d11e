"""`VAEPipeline`: sample, reconstruct, encode and interpolate with a trained VAE (Kingma & Welling 2014)."""

import warnings

import torch
from diffusers import ImagePipelineOutput

from hf_genzoo.errors import UserInputError
from hf_genzoo.models.vae import VAE

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


class VAEPipeline(GenzooPipeline):
    r"""
    Pipeline for a [`VAE`]. Images shown are the decoder's mean (`VAE.to_pixels`), not pixel samples
    from p(x|z).

    ```py
    >>> import torch
    >>> from hf_genzoo import VAEPipeline
    >>> pipe = VAEPipeline.from_pretrained("genzoo-output")
    >>> samples = pipe(batch_size=16, generator=torch.Generator().manual_seed(0)).images  # z ~ N(0, I)
    >>> recon = pipe.reconstruct(images).images
    >>> strip = pipe.interpolate(images[0], images[1], steps=8).images
    >>> means = pipe.encode(images)                   # (B, latent_dim) posterior means
    >>> grid = pipe.latent_grid(n=15).images           # 2-D latent only: 15 x 15 decoded grid
    ```

    Args:
        vae ([`VAE`]): the trained model.
    """

    model_cpu_offload_seq = "vae"

    def __init__(self, vae: VAE):
        super().__init__()
        self.register_modules(vae=vae)

    def _prepare(self, images: ImageInput) -> torch.Tensor:
        cfg = self.vae.config
        return to_model_input(images, cfg.in_channels, cfg.sample_size, self._execution_device, self.vae.dtype)

    def _flat(self, z: torch.Tensor) -> torch.Tensor:
        """`(B, D, 1, 1)` -> `(B, D)` for a vector latent; a latent map stays `(B, c, h, w)`."""
        return z.flatten(1) if self.vae.config.latent == "vector" else z

    def _decoded(self, latents: torch.Tensor, output_type: str, return_dict: bool):
        pixels = self.vae.to_pixels(
            self.vae.decode(latents.to(self._execution_device, self.vae.dtype)).sample, inplace=True
        )
        self.maybe_free_model_hooks()
        images = from_model_output(pixels, output_type)  # from (B, C, H, W)
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
    ) -> ImagePipelineOutput | tuple:
        r"""
        Draw images from the model: z ~ N(0, I), then the decoder's mean.

        Args:
            batch_size (`int`, *optional*, defaults to 1): how many images (`num_images` is its deprecated name).
            generator (`torch.Generator`, *optional*): makes the draw deterministic.
            latents (`torch.Tensor` of shape `(batch_size, *vae.latent_shape)`, *optional*): given z instead of
                drawing it; a vector latent may also be `(batch_size, latent_dim)`.
            output_type (`str`, *optional*, defaults to `"pil"`): `"pil"`, `"np"` `(B, H, W, C)` or
                `"pt"` `(B, C, H, W)`.
            return_dict (`bool`, *optional*, defaults to `True`): an `ImagePipelineOutput`, else a tuple.
        """
        z = self.prepare_latents(check_batch_size(batch_size, deprecated), generator, latents)
        return self._decoded(z, output_type, return_dict)

    def prepare_latents(self, batch_size: int, generator=None, latents: torch.Tensor | None = None) -> torch.Tensor:
        """z `(batch_size, *vae.latent_shape)`: `latents` checked (a vector latent may be `(batch_size, latent_dim)`),
        or drawn from the prior N(0, I) with `generator`."""
        if latents is not None and self.vae.config.latent == "vector" and latents.ndim == 2:
            latents = latents[..., None, None]  # (B, D, 1, 1)
        shape = (batch_size, *self.vae.latent_shape)
        return latents_or_noise(shape, generator, self._execution_device, self.vae.dtype, latents)

    def sample(self, num_images: int = 1, generator=None, output_type: str = "pil") -> ImagePipelineOutput:
        """Deprecated: call the pipeline, `pipe(batch_size=..., generator=...)`."""
        warnings.warn("VAEPipeline.sample is deprecated; call the pipeline: pipe(batch_size=...)", FutureWarning, 2)
        return self(batch_size=num_images, generator=generator, output_type=output_type)

    @torch.no_grad()
    def encode(self, images: ImageInput, max_batch_size: int = 512, **deprecated) -> torch.Tensor:
        """Posterior means of `images`: `(B, latent_dim)` for a vector latent, `(B, c, h, w)` for a map."""
        chunks = split(self._prepare(images), max_batch(max_batch_size, deprecated))
        means = torch.cat([self._flat(self.vae.encode(chunk).latent_dist.mode()) for chunk in chunks])
        self.maybe_free_model_hooks()
        return means

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, output_type: str = "pil", return_dict: bool = True):
        """Images decoded from latents (`(B, latent_dim)` or `(B, *vae.latent_shape)`)."""
        return self._decoded(latents, output_type, return_dict)

    @torch.no_grad()
    def reconstruct(
        self, images: ImageInput, output_type: str = "pil", return_dict: bool = True, max_batch_size: int = 512
    ):
        """Decode the posterior mean of each image (deterministic)."""
        return self._decoded(self.encode(images, max_batch_size), output_type, return_dict)

    @torch.no_grad()
    def interpolate(
        self,
        image_a: ImageInput,
        image_b: ImageInput,
        steps: int = 8,
        output_type: str = "pil",
        return_dict: bool = True,
    ):
        """`steps` images decoded along the straight line between the posterior means of two images,
        endpoints included (the first decodes `image_a`'s mean, the last `image_b`'s)."""
        if steps < 2:
            raise UserInputError(f"steps must be at least 2 (the two endpoints), got {steps}")
        z_a, z_b = self.encode(image_a), self.encode(image_b)
        if len(z_a) != 1 or len(z_b) != 1:
            raise UserInputError(f"interpolate takes one image at each end; got {len(z_a)} and {len(z_b)}")
        t = torch.linspace(0, 1, steps, device=z_a.device, dtype=z_a.dtype).view(-1, *[1] * (z_a.ndim - 1))
        return self._decoded(torch.lerp(z_a, z_b, t), output_type, return_dict)  # (steps, ...) latents

    @torch.no_grad()
    def latent_grid(self, n: int = 15, output_type: str = "pil", return_dict: bool = True):
        """For a 2-D latent: `n * n` images decoded at z = (Phi^-1(u), Phi^-1(v)) over an even grid of the
        unit square (Kingma & Welling 2014, fig. 4). Image `i * n + j` is row i (z_2 from high to low) and
        column j (z_1 from low to high), ready for `hf_genzoo.viz.image_grid(images, ncols=n)`."""
        cfg = self.vae.config
        if cfg.latent != "vector" or cfg.latent_dim != 2:
            raise UserInputError(
                f"latent_grid needs a 2-D vector latent (latent_dim=2); this VAE has latent={cfg.latent!r}, "
                f"latent_dim={cfg.latent_dim}"
            )
        if n < 2:
            raise UserInputError(f"n must be at least 2, got {n}")
        device = self._execution_device
        q = torch.special.ndtri((torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n)  # (n,) quantiles
        z1, z2 = q.view(1, n).expand(n, n), q.flip(0).view(n, 1).expand(n, n)
        z = torch.stack([z1, z2], dim=-1).reshape(n * n, 2)  # (n*n, 2)
        return self._decoded(z, output_type, return_dict)
