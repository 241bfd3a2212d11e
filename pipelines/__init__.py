"""Pipelines of hf_genzoo, installed as `hf_genzoo.pipelines` (setup.cfg maps this folder).

Each name is imported from its file on first use (`hf_genzoo.lazy`): loading one family's pipeline imports no
other's."""

from hf_genzoo.lazy import lazy_exports

_EXPORTS = {
    "AudioDenoisingPipeline": "audio_denoiser",
    "AudioDenoisingPipelineOutput": "audio_denoiser",
    "AutoencoderKLPipeline": "autoencoder_kl",
    "AutoencoderPipeline": "autoencoder",
    "CLIPPipeline": "clip",
    "ClassifierPipeline": "classifier",
    "DDGANPipeline": "ddgan",
    "FlowPipeline": "flow",
    "GANPipeline": "gan",
    "PointClassifierPipeline": "point_classifier",
    "PointCloudDiffusionPipeline": "pointcloud_diffusion",
    "PointCloudPipelineOutput": "pointcloud_diffusion",
    "VAEPipeline": "vae",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
