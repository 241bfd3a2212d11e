"""Model cards rendered from the Jinja templates in `model_cards/` with `huggingface_hub.ModelCard`."""

import shutil
from importlib import resources
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

CARD_HYPERPARAMETERS = (
    "model", "dataset", "model_config", "noise", "loss", "epochs", "max_steps", "batch_size", "learning_rate",
    "lr_scheduler", "mixed_precision", "gradient_accumulation_steps", "seed",
)  # fmt: skip


def template_path(family: str) -> Path:
    path = Path(str(resources.files("hf_genzoo.model_cards") / f"{family}.md"))
    if not path.exists():
        raise ValueError(f"no model card template for family {family!r} ({path})")
    return path


def render_model_card(cfg, info: dict, summary: dict, sample_image: str, repo_id: str) -> ModelCard:
    """Fill the family's template: metadata, metrics as model-index results, hyper-parameters, usage."""
    metrics = {k: float(v) for k, v in summary["metrics"].items()}
    card_data = ModelCardData(
        license="apache-2.0",
        library_name="diffusers",
        tags=["hf-genzoo", *info["tags"]],
        datasets=[cfg.dataset] if "/" in cfg.dataset else None,
        model_name=repo_id,
        eval_results=None,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(template_path(info["family"])),
        title=f"{info['description']} on {cfg.dataset}",
        description=info["description"],
        dataset=cfg.dataset,
        eval_split=cfg.eval_split,
        resolution=summary.get("resolution", cfg.resolution or "native"),
        channels=summary.get("channels", cfg.channels or "native"),
        steps=summary["steps"],
        metrics=metrics,
        hyperparameters={k: getattr(cfg, k) for k in CARD_HYPERPARAMETERS if getattr(cfg, k) not in (None, "")},
        sample_image=sample_image,
        repo_id=repo_id,
    )


def write_model_card(output_dir: Path, cfg, info: dict, summary: dict, picture: Path) -> Path:
    """Copy the picture next to the card as `sample.png` and write `README.md`."""
    output_dir = Path(output_dir)
    shutil.copyfile(picture, output_dir / "sample.png")
    card = render_model_card(cfg, info, summary, "sample.png", repo_id=str(output_dir))
    card.save(output_dir / "README.md")
    return output_dir / "README.md"
