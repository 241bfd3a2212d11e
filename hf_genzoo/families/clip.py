"""The CLIP family (the text encoder of text-to-image): objective `CLIPObjective`, pipeline `CLIPPipeline`."""

from ..family import Family, Tiny
from ..pipelines.clip import CLIPPipeline
from ..registry import register_family
from ..training.clip import CLIPObjective, evaluate_pipeline


def app_panels() -> tuple:
    from ..app.panels import TextImageMatch  # lazy: loading a model does not import the app

    return (TextImageMatch(),)


register_family(
    Family(
        "clip",
        CLIPObjective,
        CLIPPipeline,
        Tiny("hidden_size=16,intermediate_size=32,num_hidden_layers=1,num_attention_heads=2,projection_dim=16", 20),
        data_kind="captioned_images",
        data_options=lambda pipe: {
            "resolution": pipe.clip.config.vision_config.image_size,
            "channels": pipe.clip.config.vision_config.num_channels,
        },
        pipeline_tag="zero-shot-image-classification",
        call_arguments=lambda n: {"texts": ["a picture"] * n},
        transform=lambda pipe, images: pipe.encode_images(images),
        evaluate=evaluate_pipeline,
        app=app_panels,
    )
)
