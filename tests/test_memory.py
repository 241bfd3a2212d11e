"""`PeakMemory` measures what a block allocates, on the CPU (both methods) and on CUDA, and forgets earlier blocks."""

import pytest
import torch

from hf_genzoo.memory import PeakMemory, resident_mib

MIB_FLOATS = 2**20 // 4  # float32 numbers in one MiB


@pytest.fixture(params=["clear_refs", "sampling"])
def method(request):
    if request.param == "clear_refs":
        try:
            PeakMemory("cpu", method="clear_refs").__enter__().__exit__()
        except OSError:
            pytest.skip("/proc/self/clear_refs cannot be written here")
    return request.param


def test_a_200_mib_tensor_shows_as_200_mib(method):
    with PeakMemory("cpu", method=method) as mem:
        x = torch.ones(200 * MIB_FLOATS)  # written: resident, not only reserved
    assert mem.method == method
    assert 190 <= mem.delta_mib <= 260, mem
    assert mem.peak_mib == pytest.approx(mem.start_mib + mem.delta_mib)
    assert mem.start_mib == pytest.approx(resident_mib() - 200, abs=60)  # the tensor is still alive
    del x


def test_a_block_that_allocates_nothing_shows_almost_nothing(method):
    with PeakMemory("cpu", method=method) as mem:
        sum(range(1000))
    assert 0 <= mem.delta_mib < 30, mem


def test_a_second_block_does_not_see_the_first_blocks_peak(method):
    with PeakMemory("cpu", method=method) as first:
        x = torch.ones(200 * MIB_FLOATS)
    del x  # freed: the process's high-water mark stays 200 MiB up, the next block must start from now
    with PeakMemory("cpu", method=method) as second:
        y = torch.ones(20 * MIB_FLOATS)
    assert first.delta_mib >= 190 and 15 <= second.delta_mib < 50, (first, second)
    del y


def test_a_peak_freed_inside_the_block_is_still_seen():
    """The high-water mark catches a peak however short; the sampling thread would catch only a long one."""
    with PeakMemory("cpu") as mem:
        x = torch.ones(200 * MIB_FLOATS)
        del x
    if mem.method != "clear_refs":
        pytest.skip("/proc/self/clear_refs cannot be written here")
    assert 190 <= mem.delta_mib <= 260, mem
    assert resident_mib() < mem.peak_mib - 150  # it is gone by the end


def test_a_method_must_fit_the_device():
    with pytest.raises(ValueError, match="'cuda' does not measure a cpu device"):
        PeakMemory("cpu", method="cuda")
    with pytest.raises(ValueError, match="method must be one of"):
        PeakMemory("cpu", method="rss")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_peak_counts_tensors_alive_at_entry_and_the_blocks_own():
    device = torch.device("cuda")
    weights = torch.ones(64 * MIB_FLOATS, device=device)
    with PeakMemory(device) as first:
        x = torch.ones(200 * MIB_FLOATS, device=device)
        del x
    with PeakMemory(device) as second:
        y = torch.ones(20 * MIB_FLOATS, device=device)
    assert first.method == "cuda" and first.start_mib >= 64
    assert first.delta_mib == pytest.approx(200, abs=2) and first.peak_mib == pytest.approx(
        first.start_mib + 200, abs=2
    )
    assert second.delta_mib == pytest.approx(20, abs=2)  # the reset forgot the first block's 200 MiB
    del weights, y


def test_blocks_nest_an_inner_block_does_not_hide_the_outer_peak(method):
    with PeakMemory("cpu", method=method) as outer:
        x = torch.ones(200 * MIB_FLOATS)
        del x
        with PeakMemory("cpu", method=method) as inner:  # resets the high-water mark the outer one reads
            y = torch.ones(20 * MIB_FLOATS)
        del y
    assert 15 <= inner.delta_mib < 50, inner
    if method == "clear_refs":  # the sampling thread may miss the short-lived 200 MiB
        assert 190 <= outer.delta_mib <= 260, outer
