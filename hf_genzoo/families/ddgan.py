"""The Denoising Diffusion GAN family (Xiao et al. 2022): objective `DDGANObjective`, pipeline `DDGANPipeline`."""

from ..family import Family, Target, Tiny, draw
from ..models.ddgan import DDGANDiscriminator, DDGANGenerator
from ..pipelines.ddgan import DDGANPipeline
from ..registry import register_family
from ..training.ddgan import DDGANObjective


def app_panels() -> tuple:
    from ..app.panels import LatentWalk, Samples  # lazy: loading a model does not import the app

    return (Samples(), LatentWalk())


def trilemma_rows(pipe: DDGANPipeline, context) -> list:
    from ..trilemma import Row, sampled  # lazy: loading a model does not import the benchmark

    T = pipe.num_timesteps
    return [Row(f"DDGAN T={T}", sampled(pipe), T, key=f"ddgan/T{T}")]


register_family(
    Family(
        "ddgan",
        DDGANObjective,
        DDGANPipeline,
        Tiny(
            "block_out_channels=(16, 32),layers_per_block=1,down_block_types=('DownBlock2D', 'AttnDownBlock2D'),"
            "up_block_types=('AttnUpBlock2D', 'UpBlock2D'),attention_head_dim=8,norm_num_groups=8,latent_dim=8,"
            "mapping_layers=1,discriminator_block_out_channels=(16, 32),embed_dim=16"
        ),
        models=(DDGANGenerator, DDGANDiscriminator),
        sample=draw,
        nfe=lambda pipe: pipe.num_timesteps,
        app=app_panels,
        trilemma_rows=trilemma_rows,
        trilemma_variants={"ddgan-T2": {"num_timesteps": 2}, "ddgan-T4": {"num_timesteps": 4}},
        trilemma_targets=(
            # Xiao et al.'s claim, on this data: most of diffusion's quality at close to a GAN's speed ...
            Target("ddgan/T4", "ddpm/ddpm-1000", max_fd_ratio=1.25, max_time_ratio=0.01),
            # ... and more of the data covered than a plain GAN
            Target("ddgan/T4", "gan", min_recall_ratio=1.0),
        ),
    )
)
