"""Push a `genzoo train` output folder to the Hub as one commit, with its card rendered for the repo.

    genzoo push my-vae user/my-vae [--private] [--revision dev] [--commit_message "..."] [--portable]
    genzoo train vae --dataset fashion_mnist --push_to_hub --hub_model_id user/my-vae

What goes up: `model_index.json`, each component folder it names (configs and `*.safetensors`; a pickled
weight file stops the push), the model card (`README.md`, rendered again so that its usage snippet and
`model-index` name the repo), `sample.png`, `metrics.json` and `train_config.json`. Checkpoints, logs and
the per-epoch pictures stay local. The card's YAML is validated by the Hub before anything is uploaded.
It is huggingface_hub's own machinery (`create_repo`, `create_branch`, `ModelCard.validate`, `create_commit`),
so the token comes from the usual places (`HF_TOKEN`, `hf auth login`'s cache) and is never printed.
The local folder is only read: a failed push leaves it as it was.
"""

import json
from pathlib import Path

from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError

from ..errors import UserInputError
from .card import card_for_repo
from .portable import portable_files

TOP_LEVEL_FILES = ("model_index.json", "sample.png", "metrics.json", "train_config.json")
COMPONENT_SUFFIXES = (".json", ".safetensors")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


class PushError(RuntimeError):
    """The Hub refused or failed an upload; the message says what failed and that nothing local changed."""


HUB_FAILURES = (HfHubHTTPError, ValueError, RuntimeError)  # a failed LFS upload comes as a RuntimeError


def hub_api(token: str | None = None) -> HfApi:
    """huggingface_hub's client with the user's token; a `UserInputError`, before any request, when there is none."""
    if token is None and get_token() is None:
        raise UserInputError("pushing needs a Hub token: set HF_TOKEN or run `hf auth login`")
    return HfApi(token=token)


def push_failed(what: str, step: str, err: Exception, retry: str) -> PushError:
    """The `PushError` for a push of `what` that failed at `step`: the Hub's answer and the command that retries."""
    return PushError(
        f"pushing {what} failed while {step}: {err}\nNothing local was changed; run `{retry}` to try again."
    )


def files_to_push(output_dir: str | Path) -> list[Path]:
    """The files of `output_dir` that make the pipeline and its card (README.md is rendered separately)."""
    out = Path(output_dir)
    if not (out / "model_index.json").exists():
        raise UserInputError(
            f"{out} holds no saved pipeline (no model_index.json); push a folder written by `genzoo train`"
        )
    index = json.loads((out / "model_index.json").read_text())
    components = [k for k, v in index.items() if isinstance(v, list) and v[0] is not None]
    files = [out / f for f in TOP_LEVEL_FILES if (out / f).exists()]
    for name in components:
        folder = out / name
        pickled = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES) if folder.is_dir() else []
        if pickled:
            raise UserInputError(
                f"{folder} holds pickled weights {pickled}; hf_genzoo pushes safetensors only "
                f"(save with `save_pretrained(..., safe_serialization=True)`)"
            )
        found = sorted(p for p in folder.glob("*") if p.suffix in COMPONENT_SUFFIXES) if folder.is_dir() else []
        if not found:
            raise UserInputError(f"{out}: model_index.json names the component {name!r} but {folder} has no files")
        files += found
    return files


def push_to_hub(
    output_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    portable: bool = False,
) -> CommitInfo:
    """Create (or reuse) `repo_id` and commit the pipeline in `output_dir` to it, on `revision` (a branch,
    created from main when new; default main). `portable` adds the model and pipeline sources so that diffusers
    alone loads the repo (`hf_genzoo/hub/portable.py`). Returns huggingface_hub's `CommitInfo`."""
    out = Path(output_dir)
    files = files_to_push(out)
    extra = portable_files(out) if portable else {}  # path in repo -> bytes; replaces model_index.json
    card_for_repo(out, repo_id)  # fails here, before any request, if the folder cannot make a card
    api = hub_api(token)
    step = "creating the repo"
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        repo_id = url.repo_id  # a bare name gets the token owner's namespace
        if revision and revision != "main":
            step = f"creating the branch {revision!r}"
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        card = card_for_repo(out, repo_id)
        step = "validating the model card"
        card.validate()
        step = "uploading"
        operations = [
            CommitOperationAdd(path_in_repo=p.relative_to(out).as_posix(), path_or_fileobj=str(p))
            for p in files
            if p.relative_to(out).as_posix() not in extra
        ]
        operations += [CommitOperationAdd(path_in_repo=path, path_or_fileobj=data) for path, data in extra.items()]
        operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode()))
        family = json.loads((out / "model_index.json").read_text())["_class_name"]
        return api.create_commit(
            repo_id,
            operations,
            revision=revision,
            commit_message=commit_message or f"Upload {family} trained with hf_genzoo",
        )
    except HUB_FAILURES as err:
        raise push_failed(f"{out} to {repo_id}", step, err, f"genzoo push {out} {repo_id}") from err
