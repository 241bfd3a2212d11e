"""The VAE family (Kingma & Welling 2014): objective `VAEObjective`, pipeline `VAEPipeline`."""

from ..family import Family, Tiny, draw
from ..models.vae import VAE
from ..pipelines.vae import VAEPipeline
from ..registry import register_family
from ..training.vae import VAEObjective, evaluate_pipeline


def app_panels() -> tuple:
    from ..app.panels import Interpolation, Samples  # lazy: loading a VAE does not import the app

    return (Samples(), Interpolation())


def trilemma_rows(pipe: VAEPipeline, context) -> list:
    """Samples from the prior (with the ELBO bound as its bits/dim), and midpoints of two test images' codes."""
    from ..trilemma import Row, midpoints_probe, sampled  # lazy: loading a VAE does not import the benchmark

    nelbo = context.metrics.get("nelbo")
    note = "ELBO bound" + (f"; {nelbo:.1f} nats" if nelbo is not None else "")
    return [
        Row("vae", sampled(pipe), 1, context.metrics.get("bits_per_dim"), note),
        midpoints_probe("vae", pipe, context.test_images),
    ]


register_family(
    Family(
        "vae",
        VAEObjective,
        VAEPipeline,
        Tiny("block_out_channels=(8, 16),latent_dim=4"),
        models=(VAE,),
        sample=draw,
        evaluate=evaluate_pipeline,
        app=app_panels,
        trilemma_rows=trilemma_rows,
    )
)
