"""Pipelines of hf_genzoo, installed as `hf_genzoo.pipelines` (setup.cfg maps this folder)."""

from .audio_denoiser import AudioDenoisingPipeline, AudioDenoisingPipelineOutput
from .autoencoder import AutoencoderPipeline
from .autoencoder_kl import AutoencoderKLPipeline
from .classifier import ClassifierPipeline
from .clip import CLIPPipeline
from .ddgan import DDGANPipeline
from .flow import FlowPipeline
from .gan import GANPipeline
from .point_classifier import PointClassifierPipeline
from .point_cloud_diffusion import PointCloudDiffusionPipeline, PointCloudPipelineOutput
from .vae import VAEPipeline

__all__ = [
    "AudioDenoisingPipeline",
    "AudioDenoisingPipelineOutput",
    "AutoencoderKLPipeline",
    "AutoencoderPipeline",
    "CLIPPipeline",
    "ClassifierPipeline",
    "DDGANPipeline",
    "FlowPipeline",
    "GANPipeline",
    "PointClassifierPipeline",
    "PointCloudDiffusionPipeline",
    "PointCloudPipelineOutput",
    "VAEPipeline",
]
