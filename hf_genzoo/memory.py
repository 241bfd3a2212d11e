"""`PeakMemory`: the peak memory of a block of code, on a CUDA device or on the CPU, in MiB.

```py
>>> from hf_genzoo.memory import PeakMemory
>>> with PeakMemory("cpu") as mem:
...     x = torch.ones(50_000_000)  # 191 MiB, written so that it is resident
>>> mem.delta_mib, mem.method  # and mem.peak_mib, mem.start_mib: the process's resident set at its peak, at entry
(191.2, 'clear_refs')
```

How each device is measured (`method`):

- `"cuda"`: `torch.cuda.reset_peak_memory_stats` at entry, `torch.cuda.max_memory_allocated` at exit: the most
  memory tensors held at once during the block (PyTorch's allocator, so the CUDA context and the cache it keeps are
  not counted). `start_mib` is what tensors held at entry (model weights, say); `peak_mib` counts them too.
- `"clear_refs"` (CPU, Linux): the process's resident set. Writing `5` to `/proc/self/clear_refs` resets its
  high-water mark (`VmHWM` in `/proc/self/status`, kernel 4.0 and later) to the present resident set at entry; at exit
  `VmHWM` is the peak of the block, however short-lived. `start_mib` is the resident set at entry (`VmRSS`).
- `"sampling"` (CPU, where `clear_refs` cannot be written): a background thread reads the resident set every
  `interval` seconds (`/proc/self/statm`, else `psutil`); a peak shorter than the interval can be missed.

Blocks nest: one that starts inside another resets the high-water mark, so it first hands the outer block the peak
so far. On the CPU, freed memory that the C allocator keeps would hide a block's own growth, so at entry Python's
garbage is collected and glibc is asked to hand free memory back (`malloc_trim`); `delta_mib` is then what the block
itself added to the process.
"""

import ctypes
import gc
import os
import re
import threading
from pathlib import Path

import torch

MIB = 2**20
CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")
STATM = Path("/proc/self/statm")
METHODS = ("cuda", "clear_refs", "sampling")
_OPEN: list["PeakMemory"] = []  # blocks now running whose high-water mark a block inside them resets


def _status_mib(field: str) -> float:
    """A `/proc/self/status` field (`VmRSS`, `VmHWM`; the kernel writes them in kB) in MiB."""
    return int(re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.M).group(1)) / 1024


def resident_mib() -> float:
    """The process's resident set now, in MiB (`/proc/self/statm`, else `psutil`)."""
    if STATM.exists():
        return int(STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB
    try:
        import psutil
    except ImportError:
        raise RuntimeError("PeakMemory on the CPU needs /proc (Linux) or psutil (pip install psutil)") from None
    return psutil.Process().memory_info().rss / MIB


def _can_reset_high_water_mark() -> bool:
    try:
        CLEAR_REFS.write_text("5")
        _status_mib("VmHWM")
    except (OSError, AttributeError):  # no /proc, not writable, or a kernel without VmHWM
        return False
    return True


def _release_free_memory() -> None:
    """Collect Python's garbage and give glibc's free heap back to the system, so the resident set at entry holds
    only live memory (a no-op without glibc)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    r"""
    Context manager that measures the peak memory of the code inside it (see the module's docstring for how).

    Args:
        device (`str` or `torch.device`): a CUDA device measures its tensors' memory; any other the process's resident
            set.
        method (`str`, *optional*): `"clear_refs"` or `"sampling"` to choose the CPU method (tests); default: `"cuda"`
            on a CUDA device, else `"clear_refs"` where it works, else `"sampling"`.
        interval (`float`, *optional*, defaults to 0.002): seconds between two readings of the `"sampling"` method.

    Attributes after the block: `peak_mib` (the peak), `start_mib` (at entry), `delta_mib` (`peak_mib - start_mib`,
    the block's own), `method` (which of the three was used).
    """

    def __init__(self, device: str | torch.device = "cpu", method: str | None = None, interval: float = 0.002):
        self.device = torch.device(device)
        if method is None:
            method = (
                "cuda" if self.device.type == "cuda" else "clear_refs" if _can_reset_high_water_mark() else "sampling"
            )
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if (method == "cuda") != (self.device.type == "cuda"):
            raise ValueError(f"method {method!r} does not measure a {self.device.type} device")
        self.method, self.interval = method, interval
        self.peak_mib = self.start_mib = self.delta_mib = float("nan")

    def __enter__(self) -> "PeakMemory":
        if self.method == "sampling":
            _release_free_memory()
            self.start_mib = self._seen = resident_mib()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
            return self
        for outer in _OPEN:
            if outer.method == self.method and outer.device == self.device:
                outer._seen = max(outer._seen, outer._high_water_mark())
        if self.method == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start_mib = torch.cuda.memory_allocated(self.device) / MIB
        else:
            _release_free_memory()
            CLEAR_REFS.write_text("5")  # VmHWM := VmRSS
            self.start_mib = _status_mib("VmRSS")
        self._seen = self.start_mib
        _OPEN.append(self)
        return self

    def _high_water_mark(self) -> float:
        if self.method == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) / MIB
        return _status_mib("VmHWM")

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._seen = max(self._seen, resident_mib())

    def __exit__(self, *exc) -> None:
        if self.method == "sampling":
            self._stop.set()
            self._thread.join()
            self.peak_mib = max(self._seen, resident_mib())
        else:
            _OPEN.remove(self)
            self.peak_mib = max(self._seen, self._high_water_mark())
        self.delta_mib = self.peak_mib - self.start_mib

    def __repr__(self) -> str:
        return (
            f"PeakMemory(peak_mib={self.peak_mib:.1f}, start_mib={self.start_mib:.1f}, delta_mib={self.delta_mib:.1f}, "
            f"method={self.method!r})"
        )
