"""The plain, convolutional and denoising autoencoders (`mlp_autoencoder`, `conv_autoencoder`; denoising is
`--noise`): objectives `MLPAutoencoderObjective`, `ConvAutoencoderObjective`, pipeline `AutoencoderPipeline`."""

from ..family import Family, Tiny
from ..models.autoencoder import ConvAutoencoder, MLPAutoencoder
from ..pipelines.autoencoder import AutoencoderPipeline
from ..registry import register_family
from ..training.autoencoder import ConvAutoencoderObjective, MLPAutoencoderObjective, evaluate_pipeline, reconstruct


def app_panels() -> tuple:
    from ..app.panels import Reconstruction  # lazy: loading a model does not import the app

    return (Reconstruction(),)


def latent_probes(pipe: AutoencoderPipeline, context) -> list:
    """An autoencoder has no prior to sample: its trilemma rows look at its latent space instead."""
    from ..trilemma import fitted_gaussian_probe, midpoints_probe  # lazy: loading does not import the benchmark

    return [
        fitted_gaussian_probe("conv_autoencoder", pipe, context.train_images),
        midpoints_probe("conv_autoencoder", pipe, context.test_images),
    ]


AUTOENCODER = dict(
    pipeline=AutoencoderPipeline,
    models=(MLPAutoencoder, ConvAutoencoder),
    pipeline_tag="image-to-image",
    card_template="autoencoder",
    transform=reconstruct,
    evaluate=evaluate_pipeline,
    app=app_panels,
)
register_family(Family("mlp_autoencoder", MLPAutoencoderObjective, tiny=Tiny("hidden_dim=32"), **AUTOENCODER))
register_family(
    Family(
        "conv_autoencoder",
        ConvAutoencoderObjective,
        tiny=Tiny("block_out_channels=(8, 16),latent_dim=8"),
        trilemma_rows=latent_probes,
        **AUTOENCODER,
    )
)
