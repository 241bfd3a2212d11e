"""The normalizing flow family (Glow-style, Kingma & Dhariwal 2018): objective `FlowObjective`, pipeline
`FlowPipeline`."""

import torch

from ..family import Family, SampleOption, Tiny, draw
from ..models.flow import Flow
from ..pipelines.flow import FlowPipeline
from ..registry import register_family
from ..training.flow import FlowObjective


def app_panels() -> tuple:
    from ..app.panels import Likelihood, Samples  # lazy: loading a model does not import the app

    return (Samples(defaults={"temperature": 0.8}, sliders={"temperature": (0.0, 1.5, 0.05)}), Likelihood())


def trilemma_rows(pipe: FlowPipeline, context) -> list:
    """Samples at T = 1 (with the exact bits/dim: the whole test split's from training, else that of the test
    images here) and at T = 0.7 (Glow's sharper, less diverse temperature)."""
    from ..trilemma import Row, sampled  # lazy: loading a model does not import the benchmark

    bpd = context.metrics.get("bits_per_dim")
    if bpd is None:
        bpd = pipe.bits_per_dim(context.test_images, generator=torch.Generator().manual_seed(0)).mean().item()
    return [
        Row("flow T=1.0", sampled(pipe, temperature=1.0), 1, bpd, "exact"),
        Row("flow T=0.7", sampled(pipe, temperature=0.7), 1),
    ]


register_family(
    Family(
        "flow",
        FlowObjective,
        FlowPipeline,
        Tiny("num_levels=2,steps_per_level=2,hidden_channels=8", steps=50),
        models=(Flow,),
        sample=draw,
        sample_options={"temperature": SampleOption(float, "scale of the prior's standard deviation (default: 1.0)")},
        trilemma_rows=trilemma_rows,
        app=app_panels,
    )
)
