"""The point-cloud diffusion family (Luo & Hu 2021; PVD's point-voxel branch optional): objective
`PointCloudDiffusionObjective`, pipeline `PointCloudDiffusionPipeline`."""

from ..family import Family, SampleOption, Tiny
from ..models.pointcloud_diffusion import PointCloudDenoiser
from ..pipelines.pointcloud_diffusion import DEFAULT_NUM_POINTS, DEFAULT_STEPS, PointCloudDiffusionPipeline
from ..registry import register_family
from ..samplers import SAMPLERS
from ..training.pointcloud_diffusion import (
    SAMPLER_OPTIONS,
    PointCloudDiffusionObjective,
    evaluate_pipeline,
    export,
    nfe,
    sample,
)
from ..viz import point_cloud_images


def app_panels() -> tuple:
    from ..app.panels import Samples  # lazy: loading a model does not import the app

    return (Samples(defaults={"steps": 25}, batch=2, views_3d=2),)


register_family(
    Family(
        "pointcloud_diffusion",
        PointCloudDiffusionObjective,
        PointCloudDiffusionPipeline,
        Tiny("hidden_dim=16,num_blocks=1,embed_dim=16,shape_latent_dim=None", steps=20, dataset="shapes3d"),
        models=(PointCloudDenoiser,),
        data_kind="point_sets",
        data_options=lambda pipe: {"num_points": DEFAULT_NUM_POINTS},
        pipeline_tag="other",
        card_template="pointcloud_diffusion",
        sample=sample,
        sampler_options=SAMPLER_OPTIONS,
        sample_options={
            "scheduler": SampleOption(
                str, "the sampler, only the scheduler swapped (default: the saved one)", tuple(SAMPLERS)
            ),
            "steps": SampleOption(
                int, f"sampling steps (default: the saved sampler {DEFAULT_STEPS}; ddpm 1000, ddim 50)"
            ),
            "num_points": SampleOption(int, f"points per sampled set (default: {DEFAULT_NUM_POINTS})"),
            "class_label": SampleOption(str, "the class of every sample, a name or an id (default: none)"),
            "guidance_scale": SampleOption(float, "classifier-free guidance weight with --class_label (default: 1)"),
        },
        to_images=point_cloud_images,
        export=export,
        app=app_panels,
        nfe=nfe,
        evaluate=evaluate_pipeline,
    )
)
