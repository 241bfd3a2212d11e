"""Pipelines of hf_genzoo, installed as `hf_genzoo.pipelines` (setup.cfg maps this folder)."""

from .autoencoder import AutoencoderPipeline

__all__ = ["AutoencoderPipeline"]
