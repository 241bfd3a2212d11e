"""A test mixin every pipeline test class uses: save/load round trip and generator determinism.

A test class sets `get_pipeline()` (a tiny pipeline with randomized weights) and `run(pipe, generator)`
(one call returning a tensor); the mixin's tests then hold for every family.
"""

import torch


class PipelineTesterMixin:
    def get_pipeline(self):
        raise NotImplementedError

    def run(self, pipe, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def test_save_load_round_trip_gives_identical_outputs(self, tmp_path):
        pipe = self.get_pipeline()
        before = self.run(pipe, torch.Generator().manual_seed(0))
        pipe.save_pretrained(tmp_path)
        loaded = type(pipe).from_pretrained(tmp_path)
        after = self.run(loaded, torch.Generator().manual_seed(0))
        assert before.shape == after.shape
        torch.testing.assert_close(before, after, rtol=0, atol=0)
        assert list(tmp_path.rglob("*.safetensors")), "weights must be saved as safetensors"
        assert not list(tmp_path.rglob("*.bin")), "no pickled weights"

    def test_generator_determinism(self):
        pipe = self.get_pipeline()
        a = self.run(pipe, torch.Generator().manual_seed(0))
        b = self.run(pipe, torch.Generator().manual_seed(0))
        torch.testing.assert_close(a, b, rtol=0, atol=0)
