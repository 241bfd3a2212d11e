"""Every use of another library's private API, in one place, each with the reason and what it relies on.

When a pinned library changes, this is the file to check: nothing else in hf_genzoo touches a name that
starts with an underscore in torch, accelerate, datasets or argparse.
"""

import contextlib
import functools


def dataset_fingerprint(dataset) -> str:
    """`datasets.Dataset._fingerprint`: the hash of a dataset's content and transforms, which `datasets` itself
    keys its caches by; ours is keyed by it too, so a changed dataset is tensorized again."""
    return dataset._fingerprint


def arrow_table(dataset):
    """The Arrow table under a `datasets.Dataset` with its index mapping applied (`flatten_indices` is public;
    `_indices` says whether there is one). Reading Arrow directly is ~100x faster than datasets' numpy formatting."""
    if dataset._indices is not None:
        dataset = dataset.flatten_indices()
    return dataset.data


def resolved_features(dataset):
    """`datasets.IterableDataset._resolve_features()`: a streamed dataset's `features` can be None until read (csv,
    json, some Hub sets); this returns the dataset with them set, inferred from its first examples when the files do
    not say. The column checks of the data kinds read `features`."""
    return dataset if dataset.features is not None else dataset._resolve_features()


def numpy_to_arrow_lists(array):
    """`datasets.features.features.numpy_to_pyarrow_listarray`, not part of datasets' documented API: an array
    `(N, ...)` as nested Arrow lists without a Python loop (the built-ins are made in Arrow directly)."""
    from datasets.features.features import numpy_to_pyarrow_listarray

    return numpy_to_pyarrow_listarray(array)


def reset_accelerate_state() -> None:
    """accelerate keeps its state in process-wide singletons; clearing them (as accelerate's own test case
    does) lets a second `train()` in one process (tests, benchmarks) pick another precision or device."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state()
    GradientState._reset_state()


@contextlib.contextmanager
def lomo_check_cached():
    """accelerate 1.15's `AcceleratedOptimizer.step` asks importlib whether `lomo_optim` is installed, twice per
    step: a walk over every `sys.path` entry (it showed in cProfile of a small model's run). A package does not
    appear mid-run, so while training the answer is cached; on exit accelerate's own function is put back, so
    importing or running hf_genzoo changes nothing of accelerate outside `train()`."""
    import accelerate.optimizer

    original = accelerate.optimizer.is_lomo_available
    accelerate.optimizer.is_lomo_available = functools.cache(original)
    try:
        yield
    finally:
        accelerate.optimizer.is_lomo_available = original


def argparse_actions(parser):
    """`ArgumentParser._actions`: the only way to change the help text of arguments already added (the
    training command shows each family's recipe defaults as such)."""
    return parser._actions
