"""The KL autoencoder family (the latent space of text-to-image): objective `AutoencoderKLObjective`, pipeline
`AutoencoderKLPipeline`."""

from ..family import Family, Tiny
from ..models.autoencoder_kl import TINY_KL
from ..models.unet import as_model_config
from ..pipelines.autoencoder_kl import AutoencoderKLPipeline
from ..registry import register_family
from ..training.autoencoder_kl import AutoencoderKLObjective, evaluate_pipeline


def app_panels() -> tuple:
    from ..app.panels import Reconstruction  # lazy: loading a model does not import the app

    return (Reconstruction(),)


register_family(
    Family(
        "autoencoder_kl",
        AutoencoderKLObjective,
        AutoencoderKLPipeline,
        Tiny(as_model_config(TINY_KL), steps=20),
        pipeline_tag="image-to-image",
        transform=lambda pipe, images: pipe.reconstruct(images, output_type="pt").images,
        evaluate=evaluate_pipeline,
        app=app_panels,
    )
)
