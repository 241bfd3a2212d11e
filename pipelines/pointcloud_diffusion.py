"""Sampling 3-D shapes from a point-cloud diffusion model: diffusers' schedulers over a `PointCloudDenoiser`."""

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput

from hf_genzoo.errors import UserInputError
from hf_genzoo.models.pointcloud_diffusion import PointCloudDenoiser, ShapeLatentPrior
from hf_genzoo.training.config import resolve_mixed_precision

from .image_io import latents_or_noise
from .pipeline_base import GenzooPipeline

DEFAULT_NUM_POINTS = 2048  # the size the point-cloud generation papers evaluate at (Achlioptas et al. 2018)
DEFAULT_STEPS = 50
# DPM-Solver++ steps from its estimate x0 = (x_t - sigma_t eps) / alpha_t; at the start of a linear schedule alpha_t is
# 0.006, so an error of 0.1 in eps puts x0 15 units away, and without a bound the sampler diverges (points more than
# 5 units out: tests/test_pointcloud_diffusion.py). Clipping x0 to [-1, 1] (diffusers' thresholding at
# sample_max_value 1) bounds it as DDPM's and DDIM's clip_sample do.
X0_CLIP = {"thresholding": True, "sample_max_value": 1.0}
PRECISIONS = ("no", "bf16", "auto")  # `mixed_precision` of `__call__`, the values of training's --mixed_precision


@dataclass
class PointCloudPipelineOutput(BaseOutput):
    """
    Args:
        points (`np.ndarray` or `torch.Tensor` of shape `(B, N, 3)`): the sampled point sets, in the unit-ball
            normalization of the training data.
    """

    points: np.ndarray | torch.Tensor


class PointCloudDiffusionPipeline(GenzooPipeline):
    r"""
    Pipeline for sampling point sets with a [`PointCloudDenoiser`] and any diffusers scheduler of the DDPM family.

    ```py
    >>> import torch
    >>> from hf_genzoo import PointCloudDiffusionPipeline
    >>> pipe = PointCloudDiffusionPipeline.from_pretrained("genzoo-output")
    >>> g = torch.Generator().manual_seed(0)
    >>> points = pipe(num_points=2048, batch_size=4, class_label="mug", generator=g).points
    >>> points.shape
    (4, 2048, 3)
    ```

    The saved scheduler is DPM-Solver++(2M) (50 steps by default) built from the training noise schedule; swap in
    another with `hf_genzoo.samplers.use_sampler(pipe, "ddpm")` (then `num_inference_steps=1000`), `"ddim"`, ...:
    only the scheduler changes, never the network.

    A denoiser with a shape latent (`shape_latent_dim`) decodes latents: the pipeline first draws them from its
    `prior` (a DDPM over latents, every step of `prior_scheduler`), then denoises the points towards them; or decodes
    given ones, `pipe(shape_latents=pipe.encode(points))` (a reconstruction; a blend of two latents interpolates).

    Args:
        denoiser ([`PointCloudDenoiser`]): predicts the noise (or v) of every point at timestep t.
        scheduler ([`~diffusers.SchedulerMixin`]): the sampler, with the training noise schedule in its config.
        prior ([`ShapeLatentPrior`], *optional*): the noise predictor of the latents' DDPM, for a denoiser with a
            shape latent.
        prior_scheduler ([`~diffusers.DDPMScheduler`], *optional*): its noise schedule and sampler.
    """

    model_cpu_offload_seq = "denoiser"
    _optional_components = ["prior", "prior_scheduler"]

    def __init__(
        self,
        denoiser: PointCloudDenoiser,
        scheduler: SchedulerMixin,
        prior: ShapeLatentPrior | None = None,
        prior_scheduler: SchedulerMixin | None = None,
    ):
        super().__init__()
        if (prior is None) != (prior_scheduler is None):
            raise UserInputError("a ShapeLatentPrior comes with its scheduler: pass both prior and prior_scheduler")
        self.register_modules(denoiser=denoiser, scheduler=scheduler, prior=prior, prior_scheduler=prior_scheduler)

    @classmethod
    def from_training(
        cls, denoiser: PointCloudDenoiser, noise_scheduler, prior=None, prior_scheduler=None
    ) -> "PointCloudDiffusionPipeline":
        """The pipeline training saves: `denoiser` with DPM-Solver++(2M) on `noise_scheduler`'s schedule, its x0
        estimates clipped to the cube [-1, 1]^3 that holds every unit-ball set (`X0_CLIP`); and the latents' prior
        for a denoiser with a shape latent."""
        sampler = DPMSolverMultistepScheduler.from_config(noise_scheduler.config, **X0_CLIP)
        return cls(denoiser, sampler, prior, prior_scheduler)

    @torch.no_grad()
    def encode(self, points: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The shape latents `(B, shape_latent_dim)` of point sets `(B, N, 3)` (normalized as the training data,
        `hf_genzoo.data.points.unit_ball`), for `__call__(shape_latents=...)`."""
        points = torch.as_tensor(np.asarray(points) if not torch.is_tensor(points) else points)
        return self.denoiser.encode(points.to(self._execution_device, self.denoiser.dtype))

    def sample_shape_latents(
        self, batch_size: int, labels, guided: bool, guidance_scale: float, generator, steps: int | None = None
    ) -> torch.Tensor:
        """Latents `(batch_size, shape_latent_dim)` from the prior, in float32: DDPM over every step of
        `prior_scheduler` (or `steps`), for the classes `labels` (`None`, `(B,)`, or `(2B,)` with the "no class"
        half when `guided`)."""
        if self.prior is None:
            raise UserInputError(
                "this denoiser decodes shape latents and the pipeline has no prior to draw them: pass shape_latents "
                "(pipe.encode(point_sets)), or load a pipeline that training saved with its prior"
            )
        device, shape = self._execution_device, (batch_size, self.prior.config.latent_dim)
        z = latents_or_noise(shape, generator, device, self.prior.dtype, None) * self.prior_scheduler.init_noise_sigma
        self.prior_scheduler.set_timesteps(steps or self.prior_scheduler.config.num_train_timesteps, device=device)
        for t in self.prior_scheduler.timesteps:
            eps = guided_prediction(self.prior, z, t, labels, guided, guidance_scale)
            z = self.prior_scheduler.step(eps, t, z, generator=generator).prev_sample
        return z

    def prepare_latents(
        self, batch_size: int, generator=None, latents: torch.Tensor | None = None, num_points: int = DEFAULT_NUM_POINTS
    ) -> torch.Tensor:
        """x_T `(batch_size, num_points, 3)`: `latents` checked, or drawn from N(0, I) with `generator` (first, so
        `pipe(latents=pipe.prepare_latents(n, g), generator=g)` continues the draw of `pipe(generator=g)`)."""
        shape = (batch_size, num_points, 3)
        x = latents_or_noise(shape, generator, self._execution_device, self.denoiser.dtype, latents)
        return x * self.scheduler.init_noise_sigma

    def class_ids(self, class_label, batch_size: int) -> torch.Tensor | None:
        """`class_label` (`None`, an id, a name, or one per set) as ids `(B,)`; "no class" for `None`."""
        c = self.denoiser.config
        if c.num_classes is None:
            if class_label is not None:
                raise UserInputError("this model was trained without classes; pass no class_label")
            return None
        if class_label is None:
            return torch.full((batch_size,), c.num_classes, dtype=torch.long)
        labels = np.asarray(class_label.cpu() if torch.is_tensor(class_label) else class_label).reshape(-1).tolist()
        labels = labels * batch_size if len(labels) == 1 else labels
        if len(labels) != batch_size:
            raise UserInputError(f"class_label: one label, or one per set ({batch_size}); got {len(labels)}")
        names = list(c.label_names or [])
        ids = []
        for label in labels:
            if isinstance(label, str):
                if label not in names:
                    raise UserInputError(f"class_label {label!r} is not a class of this model; its classes: {names}")
                label = names.index(label)
            if not 0 <= int(label) < c.num_classes:
                raise UserInputError(
                    f"class_label {label} is out of range: this model knows {c.num_classes} classes "
                    f"(0-{c.num_classes - 1}{': ' + ', '.join(names) if names else ''})"
                )
            ids.append(int(label))
        return torch.tensor(ids, dtype=torch.long)

    @torch.no_grad()
    def __call__(
        self,
        num_points: int = DEFAULT_NUM_POINTS,
        batch_size: int = 1,
        class_label: int | str | list | torch.Tensor | None = None,
        guidance_scale: float = 1.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        num_inference_steps: int = DEFAULT_STEPS,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        mixed_precision: str = "no",
        shape_latents: torch.Tensor | None = None,
        prior_inference_steps: int | None = None,
    ) -> PointCloudPipelineOutput | tuple:
        r"""
        Sample `batch_size` point sets of `num_points` points each.

        Args:
            num_points (`int`, *optional*, defaults to 2048): points per set; any number, not only the training one.
            batch_size (`int`, *optional*, defaults to 1): how many sets.
            class_label (`int`, `str`, `list` or `torch.Tensor`, *optional*): the class of every set (an id or a
                name), or one per set, for a class-conditional model; `None` samples without a class.
            guidance_scale (`float`, *optional*, defaults to 1.0): classifier-free guidance weight w (Ho & Salimans
                2022): eps = eps(x, none) + w (eps(x, y) - eps(x, none)); 1 is the conditional model alone.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): makes sampling deterministic; it
                draws x_T, then whatever noise the scheduler adds.
            num_inference_steps (`int`, *optional*, defaults to 50): denoising steps.
            latents (`torch.Tensor` of shape `(batch_size, num_points, 3)`, *optional*): x_T instead of drawing it.
            output_type (`str`, *optional*, defaults to `"np"`): `"np"` (a numpy array) or `"pt"` (a tensor).
            return_dict (`bool`, *optional*, defaults to `True`): a `PointCloudPipelineOutput` rather than a tuple.
            mixed_precision (`str`, *optional*, defaults to `"no"`): `"bf16"` runs the denoiser under bf16 autocast
                (its matrix products in bf16; the points and the sampler's arithmetic stay in float32), `"auto"`
                does so where the device computes bf16 natively (as training's `--mixed_precision auto`), `"no"`
                never. On this project's AMX CPU it halved `genzoo evaluate`'s sampling
                (`benchmarks/pointcloud_diffusion.py --mixed_precision auto no` times both); the samples differ from
                float32's by the rounding of bf16.
        """
        if mixed_precision not in PRECISIONS:
            raise UserInputError(f"mixed_precision must be one of {PRECISIONS}, got {mixed_precision!r}")
        if output_type not in ("np", "pt"):
            raise UserInputError(f"output_type must be 'np' or 'pt' (point sets (B, N, 3)), got {output_type!r}")
        for name, value in (("num_points", num_points), ("batch_size", batch_size), ("steps", num_inference_steps)):
            if int(value) < 1:
                raise UserInputError(f"{name} must be at least 1, got {value}")
        device = self._execution_device
        bf16 = resolve_mixed_precision(mixed_precision, device) == "bf16"
        labels = self.class_ids(class_label, batch_size)
        guided = labels is not None and class_label is not None and guidance_scale != 1.0
        x = self.prepare_latents(batch_size, generator, latents, num_points)  # (B, N, 3)
        if labels is not None:
            labels = labels.to(device)
            if guided:  # the conditional and the unconditional prediction in one batch
                labels = torch.cat([labels, torch.full_like(labels, self.denoiser.null_class)])
        condition = {}
        if self.denoiser.config.shape_latent_dim is not None:
            z, width = shape_latents, self.denoiser.config.shape_latent_dim
            if z is not None and tuple(z.shape) != (batch_size, width):
                raise UserInputError(
                    f"shape_latents must be (batch_size, {width}) = ({batch_size}, {width}); got {tuple(z.shape)}"
                )
            if z is None:
                z = self.sample_shape_latents(
                    batch_size, labels, guided, guidance_scale, generator, prior_inference_steps
                )
            z = z.to(device, x.dtype)
            condition["shape_latents"] = torch.cat([z, z]) if guided else z
        elif shape_latents is not None:
            raise UserInputError("shape_latents: this denoiser has no shape latent (shape_latent_dim=None)")
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        for t in self.progress_bar(self.scheduler.timesteps):
            x_in = self.scheduler.scale_model_input(x, t)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                eps = guided_prediction(self.denoiser, x_in, t, labels, guided, guidance_scale, **condition)
            x = self.scheduler.step(eps, t, x, generator=generator).prev_sample
        self.maybe_free_model_hooks()
        points = x.float()
        points = points.cpu().numpy() if output_type == "np" else points
        return PointCloudPipelineOutput(points=points) if return_dict else (points,)


def guided_prediction(model, x: torch.Tensor, t, labels, guided: bool, guidance_scale: float, **condition):
    """`model`'s prediction at (x, t) in x's dtype; with `guided`, the conditional and the unconditional one in one
    batch (`labels` `(2B,)`: the classes, then "no class"; `condition` already doubled) combined as classifier-free
    guidance: uncond + w (cond - uncond)."""
    x_in = torch.cat([x, x]) if guided else x
    eps = model(x_in, t, class_labels=labels, **condition).sample.to(x.dtype)
    if not guided:
        return eps
    cond, uncond = eps.chunk(2)
    return uncond + guidance_scale * (cond - uncond)
