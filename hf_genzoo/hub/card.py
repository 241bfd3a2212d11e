"""Model cards rendered from the Jinja templates in `model_cards/` with `huggingface_hub.ModelCard`."""

import dataclasses
import json
import shutil
from importlib import resources
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..data.registry import hub_dataset_id
from ..errors import UserInputError
from ..registry import get_family
from ..training.config import TrainConfig

CARD_HYPERPARAMETERS = (
    "model",
    "dataset",
    "model_config",
    "noise",
    "loss",
    "epochs",
    "max_steps",
    "batch_size",
    "learning_rate",
    "lr_scheduler",
    "mixed_precision",
    "gradient_accumulation_steps",
    "seed",
)


def template_path(template: str) -> Path:
    path = Path(str(resources.files("hf_genzoo.model_cards") / f"{template}.md"))
    if not path.exists():
        raise ValueError(f"no model card template {template!r} ({path})")
    return path


def render_model_card(cfg, info: dict, summary: dict, sample_image: str, repo_id: str) -> ModelCard:
    """Fill the family's template (`info["template"]`): metadata (license, library, tags, the family's pipeline
    tag, dataset), the held-out metrics as `model-index` results, hyper-parameters, usage with `repo_id`."""
    metrics = {k: float(v) for k, v in summary["metrics"].items()}
    task = info["pipeline_tag"]
    dataset_id = hub_dataset_id(cfg.dataset)
    eval_results = [
        EvalResult(
            task_type=task,
            dataset_type=dataset_id or cfg.dataset,
            dataset_name=cfg.dataset,
            dataset_split=cfg.eval_split,
            metric_type=name,
            metric_name=name,
            metric_value=value,
        )
        for name, value in metrics.items()
    ]
    card_data = ModelCardData(
        license="apache-2.0",
        library_name="diffusers",
        pipeline_tag=task,
        tags=["hf-genzoo", info["template"], *[t for t in info["tags"] if t != info["template"]]],
        datasets=[dataset_id] if dataset_id else None,
        model_name=repo_id,
        eval_results=eval_results or None,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(template_path(info["template"])),
        title=f"{info['description']} on {cfg.dataset}",
        description=info["description"],
        dataset=cfg.dataset,
        eval_split=cfg.eval_split,
        resolution=summary.get("resolution", cfg.resolution or "native"),
        channels=summary.get("channels", cfg.channels or "native"),
        steps=summary["steps"],
        metrics=metrics,
        hyperparameters={
            k: getattr(cfg, k)
            for k in (*CARD_HYPERPARAMETERS, *info.get("hyperparameters", ()))
            if getattr(cfg, k) not in (None, "")
        },
        sample_image=sample_image,
        repo_id=repo_id,
        info=info,  # what the family said, for its own template
    )


CARD_INFO_FILE = "card_info.json"  # what the family and objective said about the card, kept to render it again


def write_model_card(output_dir: Path, cfg, info: dict, summary: dict, picture: Path) -> Path:
    """Copy the picture next to the card as `sample.png`, keep `info` in `card_info.json`, write `README.md`."""
    output_dir = Path(output_dir)
    shutil.copyfile(picture, output_dir / "sample.png")
    (output_dir / CARD_INFO_FILE).write_text(json.dumps(info, indent=2))
    card = render_model_card(cfg, info, summary, "sample.png", repo_id=str(output_dir))
    card.save(output_dir / "README.md")
    return output_dir / "README.md"


def card_for_repo(output_dir: str | Path, repo_id: str) -> ModelCard:
    """The card of a `genzoo train` output folder, rendered again with `repo_id` in its usage snippet."""
    out = Path(output_dir)
    missing = [f for f in ("train_config.json", "metrics.json", CARD_INFO_FILE) if not (out / f).exists()]
    if missing:
        raise UserInputError(f"{out} lacks {', '.join(missing)}: push a folder written by `genzoo train`")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in json.loads((out / "train_config.json").read_text()).items() if k in known})
    info = json.loads((out / CARD_INFO_FILE).read_text())
    if "template" not in info:  # written before the family registry: the family's record has it
        family = get_family(cfg.model)
        info = {"template": family.template, "pipeline_tag": family.pipeline_tag, **info}
    summary = json.loads((out / "metrics.json").read_text())
    return render_model_card(cfg, info, summary, "sample.png", repo_id=repo_id)
