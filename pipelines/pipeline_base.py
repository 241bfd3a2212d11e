"""What every hf_genzoo pipeline adds to diffusers' `DiffusionPipeline`: loading by Hub repo id.

A pipeline saved from a pip-installed package records its components as `["hf_genzoo.models.vae", "VAE"]`.
Loading such a folder works, but diffusers' own download step (`DiffusionPipeline.download`) refuses a
Hub repo whose components name a module that is neither in diffusers nor a `.py` file in the repo. So
`from_pretrained("user/name")` first fetches the repo's configs and safetensors weights with
huggingface_hub's `snapshot_download` (the usual cache, `revision=`, `HF_HUB_OFFLINE=1` after a first
download, the library's typed errors for a missing repo or revision), then loads the local snapshot with
diffusers' own `from_pretrained`. Only safetensors weights are fetched and read; nothing is unpickled and
`trust_remote_code` is never turned on.
"""

import itertools
import json
import os
from functools import cache

import torch
from diffusers import DiffusionPipeline
from huggingface_hub import snapshot_download
from safetensors import SafetensorError

from hf_genzoo.errors import UserInputError
from hf_genzoo.hub.loading import check_folder_or_repo_id
from hf_genzoo.hub.portable import is_portable, load_portable_components

# What a pipeline needs from its repo: the index, each component's config and safetensors weights.
PIPELINE_FILES = ["model_index.json", "*/config.json", "*/scheduler_config.json", "*/*.safetensors"]  # no code
DOWNLOAD_KWARGS = ("revision", "token", "cache_dir", "local_files_only", "force_download", "proxies")


@cache
def _signature_keys(cls: type, owner: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    expected, optional = DiffusionPipeline._get_signature_keys.__func__(cls, owner)
    return tuple(expected), tuple(optional)


class GenzooPipeline(DiffusionPipeline):
    """A `DiffusionPipeline` whose `from_pretrained` takes a local folder or a Hub repo id."""

    @classmethod
    def _get_signature_keys(cls, obj):
        """diffusers' component and optional-argument names of `obj`'s class, read from its `__init__` signature
        once per class rather than on every call: `pipe.device`, `pipe.components` and `_execution_device` ask for
        them each time, and `inspect.signature` was most of a small pipeline's fixed cost per call."""
        expected, optional = _signature_keys(cls, obj if isinstance(obj, type) else type(obj))
        return list(expected), list(optional)  # fresh lists, as diffusers returns: callers may change them

    @property
    def _execution_device(self) -> torch.device:
        """Where the pipeline computes: diffusers' answer, found in one walk over the components' modules.

        diffusers walks every module three times per call (group offloading, then twice for `pipe.device`) and
        each pipeline call asks once or more. When no module carries an offloading hook (accelerate's `_hf_hook`,
        diffusers' `_diffusers_hook`: `enable_model_cpu_offload`, `enable_sequential_cpu_offload`,
        `enable_group_offload`, layerwise casting), diffusers' answer is `pipe.device`: the first component (in
        the order of `__init__`'s sorted names) on an accelerator, else the first component's device, each read
        from its first parameter or buffer. Any hook found: diffusers' own rules."""
        names, _ = self._get_signature_keys(self)
        models = [m for m in (getattr(self, n, None) for n in names) if isinstance(m, torch.nn.Module)]
        devices = []
        for model in models:
            for module in model.modules():
                if "_hf_hook" in module.__dict__ or "_diffusers_hook" in module.__dict__:
                    return super()._execution_device
            tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
            if tensor is None:  # a module with neither is left to diffusers (it reads tensor attributes)
                return super()._execution_device
            devices.append(tensor.device)
        for device in devices:
            if device.type not in ("cpu", "meta"):
                return device
        return devices[0] if devices else torch.device("cpu")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs):
        r"""
        Load a pipeline saved by `save_pretrained` or `genzoo train`, from a folder or a Hub repo id.

        Args:
            pretrained_model_name_or_path (`str` or `os.PathLike`): a local folder, or a Hub repo id such as
                `"user/name"`.
            revision (`str`, *optional*): branch, tag or commit of a Hub repo (default: `main`).
            token, cache_dir, local_files_only, force_download, proxies: as in `huggingface_hub.snapshot_download`.
            kwargs: passed on to `DiffusionPipeline.from_pretrained` (`torch_dtype`, ...).
        """
        path = str(pretrained_model_name_or_path)
        check_folder_or_repo_id(path)
        if not os.path.isdir(path):
            fetch = {k: kwargs.pop(k) for k in DOWNLOAD_KWARGS if k in kwargs}
            path = snapshot_download(path, allow_patterns=PIPELINE_FILES, **fetch)
        if kwargs.get("use_safetensors") is False:
            raise UserInputError("hf_genzoo pipelines load safetensors weights only")
        kwargs["use_safetensors"] = True
        with open(os.path.join(path, "model_index.json")) as f:
            index = json.load(f)

        if is_portable(index):  # pushed with --portable: build it from the installed classes
            return cls(**load_portable_components(path, index))
        try:
            return super().from_pretrained(path, **kwargs)
        except (SafetensorError, OSError) as err:  # diffusers re-raises safetensors' error as an OSError
            cause = err
            while cause is not None and not isinstance(cause, SafetensorError):
                cause = cause.__cause__ or cause.__context__
            if cause is None:
                raise
            raise UserInputError(
                f"{path}: a weights file cannot be read ({cause}); it may be truncated: copy, download or train it "
                f"again"
            ) from None
