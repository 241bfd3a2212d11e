"""Jinja templates of the model cards, one per family (installed as `hf_genzoo.model_cards`)."""
