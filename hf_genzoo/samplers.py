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

from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

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
