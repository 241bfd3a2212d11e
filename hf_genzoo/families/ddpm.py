"""The DDPM family (Ho et al. 2020) with the fast samplers: objective `DDPMObjective`, diffusers' `DDPMPipeline`."""

from diffusers import DDPMPipeline, UNet2DModel

from ..family import Family, SampleOption, Target, Tiny
from ..models.unet import TINY_UNET, as_model_config
from ..registry import register_family
from ..samplers import DEFAULT_STEPS, SAMPLERS
from ..training.diffusion import SAMPLER_OPTIONS, DDPMObjective, sample

# The trilemma's rows: one network under the fast samplers that benchmarks/fast_sampler_options.py found best; the
# claim checked is the best fast solver's at 20 steps (Lu et al. 2022).
TRILEMMA_SAMPLERS = [("ddpm", 1000), ("dpmsolver++", 20), ("sde-dpmsolver++", 20), ("sde-dpmsolver++", 10)]


def app_panels() -> tuple:
    from ..app.panels import Samples  # lazy: loading a model does not import the app

    return (Samples(defaults={"scheduler": "dpmsolver++", "steps": 20}, batch=4),)


def trilemma_rows(pipe: DDPMPipeline, context) -> list:
    from ..trilemma import Row, sampled  # lazy: loading a model does not import the benchmark

    return [
        Row(f"{'DDPM' if s == 'ddpm' else s} {k}", sampled(pipe, scheduler=s, steps=k), k, key=f"ddpm/{s}-{k}")
        for s, k in TRILEMMA_SAMPLERS
    ]


register_family(
    Family(
        "ddpm",
        DDPMObjective,
        DDPMPipeline,
        Tiny(as_model_config(TINY_UNET)),
        models=(UNet2DModel,),
        sample=sample,
        sampler_options=SAMPLER_OPTIONS,
        sample_options={
            "scheduler": SampleOption(
                str, "the sampler, only the scheduler swapped (default: the saved one)", tuple(SAMPLERS)
            ),
            "steps": SampleOption(int, "sampling steps (default: ddpm 1000, ddim 50, dpmsolver++ 20)"),
        },
        nfe=lambda pipe, scheduler=None, steps=None: steps or DEFAULT_STEPS[scheduler or "ddpm"],
        trilemma_rows=trilemma_rows,
        app=app_panels,
        trilemma_targets=(Target("ddpm/sde-dpmsolver++-20", "ddpm/ddpm-1000", max_fd_ratio=1.15, max_time_ratio=0.03),),
    )
)
