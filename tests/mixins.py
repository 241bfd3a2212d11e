"""The checks every registered family's pipeline must pass, whatever the family (diffusers' PipelineTesterMixin in
spirit). `tests/test_pipelines.py` runs them once per family in the registry, so a new family is checked the
moment it registers; nothing here names a family.

A family's tiny pipeline is built the way training builds it (its objective on `digits`, its `Tiny` config),
then every parameter is moved off its initial value (`randomize_parameters`) so that no check passes because a
layer starts as the identity.

What is checked:
    - save_pretrained / from_pretrained gives the same outputs, with safetensors weights only;
    - `return_dict=False` gives the tuple of what `return_dict=True` holds;
    - `output_type` "pil", "np" and "pt" give PIL images, `(B, H, W, C)` arrays and `(B, C, H, W)` tensors of the
      same values;
    - the same `generator` seed gives the same samples, another seed other samples;
    - `latents=` gives the samples of the generator that drew them (`prepare_latents`, then the same generator for
      whatever else the sampler draws), and latents of the wrong shape a `UserInputError` that names the shape;
    - `enable_model_cpu_offload(device="cpu")` (accelerate's hooks, on the CPU) gives the same outputs;
    - inputs of a shape the model cannot take are a `UserInputError`.
"""

import inspect
import tempfile

import numpy as np
import PIL.Image
import pytest
import torch
from accelerate import Accelerator
from diffusers import DiffusionPipeline, ModelMixin

from hf_genzoo.compat import reset_accelerate_state
from hf_genzoo.data import load_data
from hf_genzoo.errors import MissingPackage, UserInputError
from hf_genzoo.training import make_config

from .conftest import randomize_parameters

_BUILT: dict[str, str] = {}  # family name -> the folder its tiny pipeline was saved to, built once per session


def tiny_pipeline(family):
    """The family's pipeline as its objective builds it from its tiny config (after the family's `prepare`, which may
    train the parts it is built on, at the tiny step budget), weights randomized, eval mode; built once, then loaded
    afresh from where it was saved."""
    if family.name not in _BUILT:
        tiny, folder = family.tiny, tempfile.mkdtemp(prefix=f"tiny-{family.name}-")
        cfg = make_config(
            family.name,
            dataset=tiny.dataset,
            model_config=tiny.model_config,
            mixed_precision="no",
            max_steps=tiny.steps,
            batch_size=8,
            output_dir=folder,
            report_to="none",
        )
        cfg = family.objective.prepare(cfg)
        try:
            data = load_data(family.data_kind, tiny.dataset, "train", **family.objective.data_options(cfg))
        except MissingPackage as err:  # e.g. the embedded speech set without espeak-ng
            pytest.skip(str(err))
        try:
            pipe = family.objective(cfg, data).pipeline(Accelerator(cpu=True))
        finally:
            reset_accelerate_state()
        for component in pipe.components.values():
            if isinstance(component, torch.nn.Module):
                randomize_parameters(component, scale=0.05)
        pipe.save_pretrained(folder, safe_serialization=True)
        _BUILT[family.name] = folder
    pipe = family.pipeline.from_pretrained(_BUILT[family.name])
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _ours(pipe) -> bool:
    """An hf_genzoo pipeline, not one of diffusers' own (which some families save as they are)."""
    return type(pipe).__module__.startswith("hf_genzoo")


class PipelineTesterMixin:
    """Subclasses provide a `family` fixture (a registered `Family`) and get these tests for it."""

    batch_size = 2

    @pytest.fixture
    def pipe(self, family):
        return tiny_pipeline(family)

    @pytest.fixture
    def images(self, family, pipe):
        """Inputs for a family whose pipeline takes them (images, or what `Family.inputs` makes; none for one that
        samples)."""
        if family.generative:
            return None
        return family.example_inputs(pipe, self.batch_size, torch.Generator().manual_seed(0))

    def call(self, family, pipe, images, seed=0, **kwargs):
        """The pipeline's main call: sampling for a generative family, its images-in call for the others."""
        if family.generative:
            return pipe(
                generator=torch.Generator().manual_seed(seed), **{**self.sampling_kwargs(family, pipe), **kwargs}
            )
        if "output_type" not in inspect.signature(pipe.__call__).parameters:
            kwargs.pop("output_type", None)
        return pipe(images, **family.call_kwargs(len(images)), **kwargs)

    def sampling_kwargs(self, family, pipe) -> dict:
        """How a generative pipeline is asked for `batch_size` samples here: a diffusion sampler of free step count
        takes few steps."""
        kwargs = family.call_kwargs(self.batch_size)
        steps = inspect.signature(pipe.__call__).parameters.get("num_inference_steps")
        if steps is not None and steps.default is not None:
            kwargs["num_inference_steps"] = 3
        return kwargs

    def values(self, out) -> torch.Tensor:
        """The tensor an output holds: its images (or other samples), a classifier's probabilities, a CLIP's
        similarities."""
        out = out.probs if hasattr(out, "probs") else out.to_tuple()[0]
        return out if isinstance(out, torch.Tensor) else torch.as_tensor(np.asarray(out))

    def test_save_load_round_trip_gives_identical_outputs(self, family, pipe, images, tmp_path):
        before = self.values(self.call(family, pipe, images, output_type="pt"))
        pipe.save_pretrained(tmp_path)
        loaded = type(pipe).from_pretrained(tmp_path)
        loaded.set_progress_bar_config(disable=True)
        after = self.values(self.call(family, loaded, images, output_type="pt"))
        torch.testing.assert_close(before, after, rtol=0, atol=0)
        assert list(tmp_path.rglob("*.safetensors")), "weights must be saved as safetensors"
        assert not list(tmp_path.rglob("*.bin")), "no pickled weights"

    def test_return_dict_false_gives_a_tuple(self, family, pipe, images):
        as_dict = self.call(family, pipe, images, output_type="pt")
        as_tuple = self.call(family, pipe, images, output_type="pt", return_dict=False)
        expected = as_dict.to_tuple()  # a BaseOutput's tuple leaves out fields that are None
        assert isinstance(as_tuple, tuple) and all(v is None for v in as_tuple[len(expected) :])
        for value, held in zip(as_tuple, expected, strict=False):
            if isinstance(value, torch.Tensor):
                torch.testing.assert_close(value, held, rtol=0, atol=0)
            else:
                assert value == held

    def test_output_types(self, family, pipe, images):
        if "output_type" not in inspect.signature(pipe.__call__).parameters:
            pytest.skip(f"{type(pipe).__name__} returns no images")
        pt = self.values(self.call(family, pipe, images, output_type="pt"))
        as_np = self.call(family, pipe, images, output_type="np").to_tuple()[0]
        assert isinstance(as_np, np.ndarray) and len(pt) == len(as_np) == self.batch_size
        if family.to_images is None and pt.ndim == 4:  # images: numpy (B, H, W, C) in [0, 1], and PIL images too
            b, c, h, w = pt.shape
            assert as_np.shape == (b, h, w, c) and 0 <= as_np.min() and as_np.max() <= 1
            np.testing.assert_allclose(as_np, pt.permute(0, 2, 3, 1).numpy(), atol=1e-6)
            pil = self.call(family, pipe, images, output_type="pil").images
            assert len(pil) == b and all(isinstance(p, PIL.Image.Image) and p.size == (w, h) for p in pil)
            np.testing.assert_array_equal(
                np.asarray(pil[0]).reshape(h, w, c), (as_np[0] * 255).round().astype(np.uint8)
            )
        else:
            np.testing.assert_allclose(as_np, pt.numpy(), atol=1e-6)
        if _ours(pipe):  # diffusers' own pipelines fall back to "np" with a warning
            with pytest.raises(UserInputError, match="output_type"):
                self.call(family, pipe, images, output_type="jpeg")

    def test_generator_determinism(self, family, pipe, images):
        if not family.generative:
            pytest.skip(f"{family.name} does not sample")
        a = self.values(self.call(family, pipe, images, seed=0, output_type="pt"))
        b = self.values(self.call(family, pipe, images, seed=0, output_type="pt"))
        c = self.values(self.call(family, pipe, images, seed=1, output_type="pt"))
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert not torch.equal(a, c)

    def test_latents_are_the_samples_of_their_generator(self, family, pipe, images):
        if not family.generative:
            pytest.skip(f"{family.name} does not sample")
        if not _ours(pipe):
            pytest.skip(f"{type(pipe).__name__} is diffusers' own, with its own latents")
        g = torch.Generator().manual_seed(0)
        latents = pipe.prepare_latents(self.batch_size, g)
        drawn = self.values(self.call(family, pipe, images, seed=0, output_type="pt"))
        # the latents are drawn first; a sampler that draws more (a DDGAN's z and posterior noise at each step)
        # continues from the same generator
        given = self.values(pipe(**self.sampling_kwargs(family, pipe), latents=latents, generator=g, output_type="pt"))
        torch.testing.assert_close(given, drawn, rtol=0, atol=0)
        with pytest.raises(UserInputError, match=r"latents must have shape \(2, "):
            pipe(**family.call_kwargs(self.batch_size), latents=latents[:1], output_type="pt")

    def test_model_cpu_offload_gives_the_same_outputs(self, family, pipe, images):
        before = self.values(self.call(family, pipe, images, output_type="pt"))
        pipe.enable_model_cpu_offload(device="cpu")
        after = self.values(self.call(family, pipe, images, output_type="pt"))
        assert any(hasattr(m, "_hf_hook") for m in pipe.components.values()), "accelerate's offload hooks are on"
        torch.testing.assert_close(before, after, rtol=0, atol=0)

    def test_execution_device_is_diffusers_answer(self, family, pipe):
        """`GenzooPipeline._execution_device` finds in one walk what diffusers' property finds in three: the same
        device as loaded, as each component in turn moves to the meta device (diffusers takes the first component,
        by sorted name, that is on neither the CPU nor meta, else the first), and under offload hooks."""
        if not _ours(pipe):
            pytest.skip(f"{type(pipe).__name__} is diffusers' own, with diffusers' property")

        def diffusers_answer():
            return DiffusionPipeline._execution_device.fget(pipe)

        assert type(pipe)._get_signature_keys(pipe) == DiffusionPipeline._get_signature_keys.__func__(type(pipe), pipe)
        names, _ = pipe._get_signature_keys(pipe)
        names.clear()  # the caller's own list: the next answer is whole
        assert pipe._get_signature_keys(pipe)[0], "the cached names are not changed by a caller"
        assert pipe._execution_device == diffusers_answer() == torch.device("cpu")
        answers = []
        for name in sorted(n for n, m in pipe.components.items() if isinstance(m, torch.nn.Module)):
            getattr(pipe, name).to("meta")
            answers.append(pipe._execution_device)
            assert answers[-1] == diffusers_answer(), f"after moving {name} to meta"
        assert answers[-1] == torch.device("meta")
        offloaded = tiny_pipeline(family)
        offloaded.enable_model_cpu_offload(device="cpu")
        assert offloaded._execution_device == DiffusionPipeline._execution_device.fget(offloaded)

    def test_a_wrong_input_shape_is_a_clear_error(self, family, pipe, images):
        if family.generative:
            pytest.skip(f"{family.name} takes latents, checked above")
        wrong = torch.rand(2, 2, 5) if images.ndim == 4 else torch.rand(2, 2, 2, 5)  # 3-D: no image; 4-D: no waveform
        with pytest.raises(UserInputError, match=f"{family.data_kind}|images|waveforms"):
            pipe(wrong, **family.call_kwargs(2))

    def test_models_take_return_dict(self, family, pipe):
        for component in pipe.components.values():
            if isinstance(component, ModelMixin):  # diffusers' and ours (transformers' take it among **kwargs)
                assert "return_dict" in inspect.signature(component.forward).parameters, type(component).__name__
