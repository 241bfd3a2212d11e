"""Fast sampling by changing only the scheduler of a diffusion pipeline.

A trained DDPM is one network that predicts the noise (or v) at any of the 1000 training timesteps.
The scheduler decides which timesteps the sampler visits and how it steps between them, so swapping
it changes the speed (and the quality at a given number of steps), never the network:

    ddpm          ancestral sampling of Ho et al. (2020); needs ~1000 steps
    ddim          the deterministic DDIM sampler (Song et al. 2021, eta = 0); 50 steps are close to ddpm
    dpmsolver++   DPM-Solver++(2M), multistep second order (Lu et al. 2022); 10-20 steps
    dpmsolver     DPM-Solver(2M), the same in noise-prediction form

These are the schedulers `DDPMPipeline` can drive: their `step` takes the pipeline's `generator` and
their input needs no scaling (`DDPMPipeline` never calls `scale_model_input`; Euler, Heun or LMS would
silently sample wrongly through it).
"""

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from hf_genzoo.pipelines import FlowPipeline, GANPipeline, VAEPipeline

SAMPLERS = {
    "ddpm": (DDPMScheduler, {}),
    "ddim": (DDIMScheduler, {}),
    "dpmsolver++": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++"}),
    "dpmsolver": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver", "final_sigmas_type": "sigma_min"}),
}
DEFAULT_STEPS = {"ddpm": 1000, "ddim": 50, "dpmsolver++": 20, "dpmsolver": 20}


def check_sampler(name: str) -> None:
    if name not in SAMPLERS:
        raise ValueError(f"unknown scheduler {name!r}; supported: {', '.join(SAMPLERS)}")


def make_scheduler(name: str, config):
    """The scheduler `name`, built from a trained model's scheduler config (its betas, timesteps and
    prediction type carry over)."""
    check_sampler(name)
    cls, kwargs = SAMPLERS[name]
    return cls.from_config(config, **kwargs)


def use_sampler(pipe, name: str):
    """Give a diffusion pipeline the scheduler `name` in place (the network is untouched); returns `pipe`."""
    pipe.scheduler = make_scheduler(name, pipe.scheduler.config)
    return pipe


def sample_images(pipe, num_images: int, generator, batch_size: int, scheduler: str | None = None,
                  steps: int | None = None, temperature: float | None = None):
    """`num_images` samples `(N, C, H, W)` in [0, 1] from any hf_genzoo pipeline, `batch_size` at a time, all drawn
    from the one `generator` in turn (so a call with num_images <= batch_size is exactly one pipeline call)."""
    diffusion = hasattr(pipe, "unet") and hasattr(pipe, "scheduler")
    if not diffusion and (scheduler or steps):
        raise ValueError(f"--scheduler and --steps are for diffusion pipelines; {type(pipe).__name__} samples in one pass")
    if temperature is not None and not isinstance(pipe, FlowPipeline):
        raise ValueError(f"--temperature is for flows; {type(pipe).__name__} has no temperature")
    if diffusion and scheduler:
        use_sampler(pipe, scheduler)
    if diffusion:
        pipe.set_progress_bar_config(disable=True)
        steps = steps or DEFAULT_STEPS.get(scheduler or "ddpm", 1000)

    def draw(n):
        if diffusion:
            return pipe(batch_size=n, generator=generator, num_inference_steps=steps, output_type="pt").images
        if isinstance(pipe, FlowPipeline):
            return pipe.sample(n, temperature=1.0 if temperature is None else temperature, generator=generator,
                               output_type="pt").images  # fmt: skip
        if isinstance(pipe, VAEPipeline):
            return pipe.sample(n, generator=generator, output_type="pt").images
        if isinstance(pipe, GANPipeline):
            return pipe(batch_size=n, generator=generator, output_type="pt").images
        raise ValueError(f"{type(pipe).__name__} does not generate images; sample from a VAE, GAN, flow or DDPM")

    out = [draw(min(batch_size, num_images - i)).float().cpu() for i in range(0, num_images, batch_size)]
    return torch.cat(out), steps
