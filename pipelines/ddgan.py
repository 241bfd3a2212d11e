"""Sampling from a Denoising Diffusion GAN (Xiao et al. 2022): T large denoising steps, one generator call each."""

import torch
from diffusers import DDPMScheduler, ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor

from hf_genzoo.errors import UserInputError
from hf_genzoo.models.ddgan import DDGANDiscriminator, DDGANGenerator

from .image_io import check_batch_size, from_model_output, latents_or_noise
from .pipeline_base import GenzooPipeline


class DDGANPipeline(GenzooPipeline):
    r"""
    Pipeline for a [`DDGANGenerator`] on the T-step diffusion it was trained for ([`~diffusers.DDPMScheduler`] with
    the paper's betas, `prediction_type="sample"`), and, when saved with it, its [`DDGANDiscriminator`].

    ```py
    >>> import torch
    >>> from hf_genzoo import DDGANPipeline
    >>> pipe = DDGANPipeline.from_pretrained("genzoo-output")
    >>> images = pipe(batch_size=16, generator=torch.Generator().manual_seed(0)).images  # T generator calls
    ```

    Each step t = T, ..., 1 draws z ~ N(0, I), asks the generator for x0' = G(x_t, z, t) and draws x_{t-1} from the
    Gaussian posterior q(x_{t-1} | x_t, x0') of the forward process: `DDPMScheduler.step` with the prediction
    taken as the clean sample, which adds no noise at the last step (x_0 is x0').

    Args:
        generator ([`DDGANGenerator`]): G(x_t, z, t) -> x0' in [-1, 1].
        scheduler ([`~diffusers.DDPMScheduler`]): the T-step forward process, its posterior and its steps.
        discriminator ([`DDGANDiscriminator`], *optional*): the adversary it was trained against; kept for resuming
            and evaluation, not needed for sampling. `from_pretrained(path, discriminator=None)` skips loading it.
    """

    model_cpu_offload_seq = "generator"
    _optional_components = ["discriminator"]

    def __init__(
        self, generator: DDGANGenerator, scheduler: DDPMScheduler, discriminator: DDGANDiscriminator | None = None
    ):
        super().__init__()
        self.register_modules(generator=generator, scheduler=scheduler, discriminator=discriminator)

    @property
    def num_timesteps(self) -> int:
        """T, the number of denoising steps the generator was trained for."""
        return self.scheduler.config.num_train_timesteps

    def prepare_latents(self, batch_size: int, generator=None, latents: torch.Tensor | None = None) -> torch.Tensor:
        """x_T `(batch_size, C, H, W)`: `latents` checked, or drawn from N(0, I) with `generator` (drawn first, so
        `pipe(latents=pipe.prepare_latents(n, g), generator=g)` continues the draw of `pipe(generator=g)` seeded
        alike)."""
        c = self.generator.config
        shape = (batch_size, c.in_channels, c.sample_size, c.sample_size)
        return latents_or_noise(shape, generator, self._execution_device, self.generator.dtype, latents)

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int = 1,
        num_inference_steps: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        **deprecated,
    ):
        r"""
        Sample images in T steps, mapped from [-1, 1] to [0, 1].

        Args:
            batch_size (`int`, *optional*, defaults to 1): how many images (`num_images` is its deprecated name).
            num_inference_steps (`int`, *optional*): the denoising steps; a DDGAN's generator is trained for its own
                T steps (`pipe.num_timesteps`), so only T is accepted (the default).
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): makes the sampling deterministic;
                it draws x_T, then at each step z and the posterior noise.
            latents (`torch.Tensor` of shape `(batch_size, C, H, W)`, *optional*): x_T instead of drawing it.
            output_type (`str`, *optional*, defaults to `"pil"`): `"pil"`, `"np"` (`(B, H, W, C)`) or `"pt"`
                (`(B, C, H, W)`), values in [0, 1].
            return_dict (`bool`, *optional*, defaults to `True`): an `ImagePipelineOutput` rather than a tuple.
        """
        batch_size = check_batch_size(batch_size, deprecated)
        T = self.num_timesteps
        if num_inference_steps not in (None, T):
            raise UserInputError(
                f"this DDGAN was trained for T = {T} denoising steps, and its generator knows only those; "
                f"num_inference_steps must be {T} (or left out), got {num_inference_steps}"
            )
        device, dtype = self._execution_device, self.generator.dtype
        x = self.prepare_latents(batch_size, generator, latents)  # x_T ~ N(0, I)
        self.scheduler.set_timesteps(T, device=device)
        for t in self.progress_bar(self.scheduler.timesteps):  # T - 1, ..., 0: step t + 1 of the paper's indexing
            z = randn_tensor(
                (batch_size, self.generator.config.latent_dim), generator=generator, device=device, dtype=dtype
            )
            x0 = self.generator(x, t, z).sample  # (B, C, H, W) in [-1, 1]
            x = self.scheduler.step(x0, t, x, generator=generator).prev_sample  # x_{t-1} ~ q(x_{t-1} | x_t, x0')
        self.maybe_free_model_hooks()
        images = from_model_output((x.float() + 1) / 2, output_type)
        return ImagePipelineOutput(images=images) if return_dict else (images,)
