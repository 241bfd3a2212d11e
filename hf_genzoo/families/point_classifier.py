"""The point-set classifier family (PointNet, Qi et al. 2017): objective `PointClassifierObjective`, pipeline
`PointClassifierPipeline`."""

from ..family import Family, Tiny
from ..models.point_classifier import PointClassifier
from ..pipelines.point_classifier import PointClassifierPipeline
from ..registry import register_family
from ..training.point_classifier import PointClassifierObjective, evaluate_pipeline, example_points


def app_panels() -> tuple:
    from ..app.panels import Classify  # lazy: loading a model does not import the app

    return (Classify(inputs="points"),)


register_family(
    Family(
        "point_classifier",
        PointClassifierObjective,
        PointClassifierPipeline,
        Tiny("widths=(16, 32),head_widths=(16,)", steps=40, dataset="shapes3d"),
        models=(PointClassifier,),
        data_kind="point_sets",
        data_options=lambda pipe: {"num_points": pipe.classifier.config.num_points},
        pipeline_tag="other",
        transform=lambda pipe, points: pipe(points).labels,
        evaluate=evaluate_pipeline,
        inputs=example_points,
        app=app_panels,
    )
)
