"""Metrics files are strict JSON: a value that is not a finite number (NaN, an infinity) is written as `null`.

Python's `json` writes a bare `NaN` by default, which no other JSON reader accepts.
"""

import json
import math


def finite_or_none(obj):
    """`obj` with every float that is NaN or infinite (in dicts, lists and tuples, at any depth) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def dumps(obj, **kwargs) -> str:
    """`json.dumps` that never writes NaN or Infinity (they become null)."""
    return json.dumps(finite_or_none(obj), allow_nan=False, **kwargs)
