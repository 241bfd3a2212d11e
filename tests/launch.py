"""Run a command that starts processes of its own (torchrun and its workers, a benchmark that launches torchrun), so
that a hang fails in minutes and says where every process hung.

`run_or_dump(command, timeout=...)` is `subprocess.run(command, capture_output=True, text=True)`, with
`PYTHONFAULTHANDLER=1` in the environment. Past `timeout` seconds it sends SIGABRT to every process the command
started, then, `grace` seconds later, to the command itself if it still runs: Python's faulthandler prints each
one's thread stacks to its stderr, which reaches ours through the parents (torchrun passes its workers' stderr
through; our benchmarks print a failed child's). Then the test fails with that stderr.
"""

import os
import signal
import subprocess
from pathlib import Path

import pytest


def _descendants(pid: int) -> list[int]:
    """The processes below `pid`, from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
        except (OSError, IndexError):
            continue  # gone since the listing
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found, frontier = found + children, children
    return found


def _signal(pids, sig) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def run_or_dump(command: list[str], *, timeout: float, env: dict | None = None, cwd=None, grace: float = 15):
    env = {**(os.environ if env is None else env), "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal(_descendants(proc.pid), signal.SIGABRT)  # all at once, before torchrun's agent stops the others
        try:  # a benchmark prints its failed torchrun's stderr and exits; torchrun itself exits
            out, err = proc.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal([proc.pid], signal.SIGABRT)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                _signal([*_descendants(proc.pid), proc.pid], signal.SIGKILL)
                out, err = proc.communicate()
        pytest.fail(
            f"{' '.join(command)} still ran after {timeout:.0f} s; the stacks of its processes:\n{err[-12000:]}"
        )
    return subprocess.CompletedProcess(command, proc.returncode, out, err)
