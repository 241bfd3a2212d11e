"""Drawing samples from any generative pipeline (`sample_images`), and fast diffusion sampling by changing only
the scheduler of a diffusion pipeline (`use_sampler`).

`sample_images` asks the registry how the pipeline's family draws (`Family.sample`) and which options it takes
(`Family.sample_options`): `genzoo sample`, `genzoo evaluate --classifier` and the trilemma rows all draw through it.

A trained DDPM is one network that predicts the noise (or v) at any of the 1000 training timesteps.
The scheduler decides which timesteps the sampler visits and how it steps between them, so swapping
it changes the speed (and the quality at a given number of steps), never the network:

    ddpm          ancestral sampling of Ho et al. (2020); needs ~1000 steps
    ddim          the deterministic DDIM sampler (Song et al. 2021, eta = 0); 50 steps are close to ddpm
    dpmsolver++   DPM-Solver++(2M), multistep second order (Lu et al. 2022); 10-20 steps
    sde-dpmsolver++  its stochastic form (SDE-DPM-Solver++(2M)): fresh noise at each step, which corrects the
                  network's errors; at 20 steps the nearest to DDPM 1000 (benchmarks/fast_sampler_options.py)
    dpmsolver     DPM-Solver(2M), the same in noise-prediction form

These are the schedulers `DDPMPipeline` can drive: their `step` takes the pipeline's `generator` and
their input needs no scaling (`DDPMPipeline` never calls `scale_model_input`; Euler, Heun or LMS would
silently sample wrongly through it).
"""

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from .errors import UserInputError
from .registry import families, family_of

SAMPLERS = {
    "ddpm": (DDPMScheduler, {}),
    "ddim": (DDIMScheduler, {}),
    "dpmsolver++": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++"}),
    "sde-dpmsolver++": (DPMSolverMultistepScheduler, {"algorithm_type": "sde-dpmsolver++"}),
    "dpmsolver": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver", "final_sigmas_type": "sigma_min"}),
}
DEFAULT_STEPS = {"ddpm": 1000, "ddim": 50, "dpmsolver++": 20, "sde-dpmsolver++": 20, "dpmsolver": 20}


def check_sampler(name: str) -> None:
    if name not in SAMPLERS:
        raise UserInputError(f"unknown scheduler {name!r}; supported: {', '.join(SAMPLERS)}")


def make_scheduler(name: str, config, **options):
    """The scheduler `name`, built from a trained model's scheduler config (its betas, timesteps and
    prediction type carry over), with `options` (e.g. `thresholding=True`) on top."""
    check_sampler(name)
    cls, kwargs = SAMPLERS[name]
    return cls.from_config(config, **{**kwargs, **options})


def use_sampler(pipe, name: str, **options):
    """Give a diffusion pipeline the scheduler `name` in place (the network is untouched); returns `pipe`. The
    family's own options for that sampler (`Family.sampler_options`: a pixel-space DDPM clips its x0 estimates) come
    first, `options` over them."""
    try:
        own = family_of(pipe).sampler_options.get(name, {})
    except UserInputError:  # a diffusers pipeline of no hf_genzoo family: the scheduler as diffusers builds it
        own = {}
    pipe.scheduler = make_scheduler(name, pipe.scheduler.config, **{**own, **options})
    return pipe


def sample_images(pipe, num_images: int, generator, batch_size: int, **options) -> torch.Tensor:
    """`num_images` samples (images `(N, C, H, W)` in [0, 1]) from any generative hf_genzoo pipeline, `batch_size`
    at a time, all drawn from the one `generator` in turn (so a call with num_images <= batch_size is exactly one
    pipeline call). `options` are the family's own (`Family.sample_options`); `None` means its default."""
    family = family_of(pipe)
    if not family.generative:
        makers = ", ".join(name for name, f in families().items() if f.generative)
        raise UserInputError(f"{type(pipe).__name__} does not generate images; these families do: {makers}")
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(family.sample_options))
    if unknown:
        takes = ", ".join(f"--{o}" for o in family.sample_options) or "none"
        raise UserInputError(
            f"{' and '.join(f'--{o}' for o in unknown)}: not an option of {family.name} (it takes {takes})"
        )
    out = [
        family.sample(pipe, min(batch_size, num_images - i), generator, **given)
        for i in range(0, num_images, batch_size)
    ]
    return torch.cat([x.float().cpu() for x in out])
