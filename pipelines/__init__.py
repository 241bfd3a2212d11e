"""Pipelines of hf_genzoo, installed as `hf_genzoo.pipelines` (setup.cfg maps this folder)."""

from .autoencoder import AutoencoderPipeline
from .classifier import ClassifierPipeline
from .flow import FlowPipeline
from .gan import GANPipeline
from .vae import VAEPipeline

__all__ = ["AutoencoderPipeline", "ClassifierPipeline", "FlowPipeline", "GANPipeline", "VAEPipeline"]
