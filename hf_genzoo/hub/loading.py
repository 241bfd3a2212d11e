"""Load any saved hf_genzoo pipeline by folder or Hub repo id, whatever its family."""

import json
import os
from pathlib import Path

from huggingface_hub import hf_hub_download

from ..errors import UserInputError
from ..registry import pipeline_class, pipeline_classes
from .portable import index_class_name


def check_folder_or_repo_id(path_or_repo: str) -> None:
    """A path that does not exist and cannot be a Hub repo id ("user/name") is a missing folder: say so, instead of
    the Hub's repo-id validation error."""
    path = str(path_or_repo)
    if os.path.exists(path):
        return
    if os.path.isabs(path) or path.startswith((".", "~")) or path.count("/") != 1 or os.sep != "/" and os.sep in path:
        raise UserInputError(f"no such folder: {path} (a Hub repo id looks like user/name)")


def pipeline_class_name(path_or_repo: str, revision: str | None = None) -> str:
    """The `_class_name` recorded in the pipeline's model_index.json."""
    check_folder_or_repo_id(path_or_repo)
    if os.path.isdir(path_or_repo):
        index = os.path.join(path_or_repo, "model_index.json")
        if not os.path.exists(index):
            raise UserInputError(
                f"{path_or_repo} holds no saved pipeline (no model_index.json); train one with `genzoo train`"
            )
    elif os.path.exists(path_or_repo):
        raise UserInputError(f"{path_or_repo} is a file; pass the folder a pipeline was saved to")
    else:
        index = hf_hub_download(path_or_repo, "model_index.json", revision=revision)

    with open(index) as f:
        return index_class_name(json.load(f))


def load_pipeline(path_or_repo: str, revision: str | None = None, **kwargs):
    """`XPipeline.from_pretrained(path_or_repo)` for the pipeline class of the family it was saved by (some families
    save a stock diffusers pipeline, e.g. `DDPMPipeline`)."""
    name = pipeline_class_name(path_or_repo, revision)
    cls = pipeline_class(name)  # imports that family's module only
    if cls is None:
        raise UserInputError(
            f"{path_or_repo} holds a {name}, which is not the pipeline of any hf_genzoo family "
            f"({', '.join(pipeline_classes())})"
        )
    return cls.from_pretrained(path_or_repo, revision=revision, **kwargs)


def train_config(source: str) -> tuple[dict, Path | None]:
    """The `train_config.json` beside a saved pipeline (local folder or Hub repo) and the folder it lies in; `{}` and
    `None` when there is none (a pipeline pushed without it still loads)."""
    folder = Path(source)
    if folder.is_dir():
        path = folder / "train_config.json"
        return (json.loads(path.read_text()) if path.exists() else {}), folder
    try:
        path = hf_hub_download(source, "train_config.json")
    except Exception:  # noqa: BLE001 - optional: a pushed repo without it still loads
        return {}, None
    return json.loads(Path(path).read_text()), Path(path).parent
