"""Sharing trained models: model cards, pushing to the Hub (optionally portable), loading by repo id."""

from .card import card_for_repo, render_model_card, write_model_card
from .loading import load_pipeline
from .push import PushError, files_to_push, push_to_hub

__all__ = [
    "PushError",
    "card_for_repo",
    "files_to_push",
    "load_pipeline",
    "push_to_hub",
    "render_model_card",
    "write_model_card",
]
