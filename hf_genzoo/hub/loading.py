"""Load any saved hf_genzoo pipeline by folder or Hub repo id, whatever its family."""

import json
import os

from huggingface_hub import hf_hub_download

STOCK_PIPELINES = ("DDPMPipeline",)  # diffusers pipelines that `genzoo train` saves as they are


def pipeline_class_name(path_or_repo: str, revision: str | None = None) -> str:
    """The `_class_name` recorded in the pipeline's model_index.json."""
    if os.path.isdir(path_or_repo):
        index = os.path.join(path_or_repo, "model_index.json")
        if not os.path.exists(index):
            raise ValueError(f"{path_or_repo} holds no saved pipeline (no model_index.json); train one with `genzoo train`")
    elif os.path.exists(path_or_repo):
        raise ValueError(f"{path_or_repo} is a file; pass the folder a pipeline was saved to")
    else:
        index = hf_hub_download(path_or_repo, "model_index.json", revision=revision)
    with open(index) as f:
        name = json.load(f)["_class_name"]
    return name[1] if isinstance(name, list) else name  # ["pipeline", "VAEPipeline"] in a --portable repo


def load_pipeline(path_or_repo: str, revision: str | None = None, **kwargs):
    """`XPipeline.from_pretrained(path_or_repo)` for the hf_genzoo pipeline class it was saved with."""
    import diffusers

    import hf_genzoo.pipelines as pipelines

    name = pipeline_class_name(path_or_repo, revision)
    cls = getattr(pipelines, name, None)
    if cls is None and name in STOCK_PIPELINES:  # the diffusion family saves diffusers' own pipelines
        cls = getattr(diffusers, name)
    if cls is None:
        raise ValueError(f"{path_or_repo} holds a {name}, which is neither an hf_genzoo pipeline nor one of "
                         f"the stock diffusers pipelines it trains ({', '.join(STOCK_PIPELINES)})")  # fmt: skip
    return cls.from_pretrained(path_or_repo, revision=revision, **kwargs)
