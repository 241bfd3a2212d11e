"""Pipelines of hf_genzoo, installed as `hf_genzoo.pipelines` (setup.cfg maps this folder)."""

from .autoencoder import AutoencoderPipeline
from .flow import FlowPipeline
from .gan import GANPipeline
from .vae import VAEPipeline

__all__ = ["AutoencoderPipeline", "FlowPipeline", "GANPipeline", "VAEPipeline"]
