"""Sharing trained models: model cards (and, later, pushing to the Hub)."""

from .card import render_model_card, write_model_card

__all__ = ["render_model_card", "write_model_card"]
