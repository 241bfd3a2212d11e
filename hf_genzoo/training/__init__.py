"""Training: one accelerate loop (`train`) and one small objective per family.

The objectives know nothing of the app, the benchmarks or the registry's records: each family's record
(`hf_genzoo/families/<name>.py`) names its objective and registers it (`hf_genzoo.registry`). Names are imported
from their file on first use (`hf_genzoo.lazy`), so that reading a `TrainConfig` does not import the loop.
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "Objective": "objective",
    "TrainConfig": "config",
    "TrainResult": "loop",
    "build_model": "objective",
    "find_checkpoint": "loop",
    "make_config": "objective",
    "train": "loop",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
