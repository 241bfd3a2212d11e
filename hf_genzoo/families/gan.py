"""The GAN family (DCGAN-style, Radford et al. 2016): objective `GANObjective`, pipeline `GANPipeline`."""

from ..family import Family, Tiny, draw
from ..models.gan import Discriminator, Generator
from ..pipelines.gan import GANPipeline
from ..registry import register_family
from ..training.gan import GANObjective


def app_panels() -> tuple:
    from ..app.panels import LatentWalk, Samples  # lazy: loading a model does not import the app

    return (Samples(), LatentWalk())


def trilemma_rows(pipe: GANPipeline, context) -> list:
    from ..trilemma import Row, sampled  # lazy: loading a model does not import the benchmark

    return [Row("gan", sampled(pipe), 1)]


register_family(
    Family(
        "gan",
        GANObjective,
        GANPipeline,
        Tiny("block_out_channels=(8, 16),latent_dim=8"),
        models=(Generator, Discriminator),
        sample=draw,
        app=app_panels,
        trilemma_rows=trilemma_rows,
    )
)
