"""The image classifier family (the feature space of the sample-quality metrics): objective
`ClassifierObjective`, pipeline `ClassifierPipeline`."""

from ..family import Family, Tiny
from ..models.classifier import ImageClassifier
from ..pipelines.classifier import ClassifierPipeline
from ..registry import register_family
from ..training.classifier import ClassifierObjective, evaluate_pipeline


def app_panels() -> tuple:
    from ..app.panels import Classify  # lazy: loading a model does not import the app

    return (Classify(),)


register_family(
    Family(
        "classifier",
        ClassifierObjective,
        ClassifierPipeline,
        Tiny("block_out_channels=(16, 32)", steps=150),
        models=(ImageClassifier,),
        pipeline_tag="image-classification",
        transform=lambda pipe, images: pipe(images).labels,
        evaluate=evaluate_pipeline,
        features=True,
        app=app_panels,
    )
)
