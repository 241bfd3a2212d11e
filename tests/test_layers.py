"""The package's layers hold: no import circle anywhere in `hf_genzoo` and `pipelines` (every import statement, at the
top of a file or inside a function), the objectives import neither the app nor the benchmark, and loading and
sampling one family's model imports no other family's files, no app and no trilemma."""

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_files() -> dict[str, Path]:
    """Module name -> file, for `hf_genzoo` and `pipelines` (installed as `hf_genzoo.pipelines`)."""
    files = {}
    for base in ("hf_genzoo", "pipelines"):
        for path in (ROOT / base).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[0] == "pipelines":
                parts[:1] = ["hf_genzoo", "pipelines"]
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Which of the package's modules each module imports, by any `import` statement in it. Importing `a.b.c` also
    runs `a` and `a.b` (edges to them), except the packages the importer lies in, which are running already; `from
    . import x` of a submodule `x` is an edge to `x` only."""
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        named = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                named.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module
                subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in files]
                named.update(subs)
                if len(subs) < len(node.names):
                    named.add(module)
        edges = set()
        for target in named:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                parent = ".".join(parts[:i])
                inside = name.startswith(parent + ".") or name == parent
                if parent in files and not (inside and parent != target):
                    edges.add(parent)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle `[a, b, ..., a]`, or `None`."""
    state, stack = {}, []

    def visit(v):
        state[v] = "open"
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == "open":
                return stack[stack.index(w) :] + [w]
            if w not in state and (found := visit(w)):
                return found
        stack.pop()
        state[v] = "done"
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_the_graph_sees_a_circle_where_there_is_one():
    assert find_cycle({"p": set(), "p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}}) == ["p.a", "p.b", "p.c", "p.a"]
    assert find_cycle({"p": {"p.a"}, "p.a": {"p.b"}, "p.b": set()}) is None


def test_no_import_circle_in_the_package():
    files = module_files()
    graph = import_graph(files)
    assert "hf_genzoo.registry" in graph["hf_genzoo.hub.loading"]  # the graph sees the imports inside functions
    assert "hf_genzoo.data.images" in graph["hf_genzoo.data.captions"]  # and `from . import images`
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_objectives_import_neither_the_app_nor_the_benchmark_nor_the_records():
    graph = import_graph(module_files())
    for name, edges in graph.items():
        if name.startswith("hf_genzoo.training"):
            bad = {e for e in edges if e.startswith(("hf_genzoo.app", "hf_genzoo.trilemma", "hf_genzoo.families"))}
            assert not bad, f"{name} imports {sorted(bad)}"
    assert not {e for e in graph["hf_genzoo.family"] if e.startswith("hf_genzoo.")} - {"hf_genzoo"}


def family_files(family) -> set[str]:
    """The modules that are one family's own: its record, objective, pipeline and models."""
    own = {family.objective.__module__, family.pipeline.__module__, *(m.__module__ for m in family.models)}
    from hf_genzoo.registry import FAMILY_MODULES

    own.add(FAMILY_MODULES[family.name])
    return {m for m in own if m.startswith("hf_genzoo.")}


# families that build on another's objective (a diffusion objective, the GAN's model pair, the classifier's loss);
# never on another's record
BUILDS_ON = {
    "pointcloud_diffusion": {"ddpm"},
    "text2image": {"ddpm", "clip"},
    "ddgan": {"gan"},
    "point_classifier": {"classifier"},
}
LOAD_AND_SAMPLE = """
import json, sys, torch
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.registry import family_of
pipe = load_pipeline(sys.argv[1])
family = family_of(pipe)
if family.generative:
    family.sample(pipe, 1, torch.Generator().manual_seed(0))
else:
    family.transform(pipe, family.example_inputs(pipe, 1))
print(json.dumps(sorted(m for m in sys.modules if m.startswith("hf_genzoo"))))
"""


def test_loading_and_sampling_one_family_imports_no_other_family_no_app_no_trilemma():
    """Every family's tiny pipeline (as `tests/test_pipelines.py` builds it), loaded and sampled in a fresh process
    of its own; the processes run side by side."""
    from hf_genzoo.registry import FAMILY_MODULES, families, get_family

    from .mixins import _BUILT, tiny_pipeline

    everyone = families()
    for family in everyone.values():
        tiny_pipeline(family)  # saved once per session, into _BUILT
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-c", LOAD_AND_SAMPLE, _BUILT[name]], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name in everyone
    }
    for name, run in runs.items():
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, f"{name}: {err.decode()[-2000:]}"
        loaded = set(json.loads(out.decode().strip().splitlines()[-1]))
        family = everyone[name]
        # a family built on another may import that one's objective and what it imports (its model and pipeline)
        bases = [get_family(b) for b in BUILDS_ON.get(name, ())]
        allowed = family_files(family).union(*(family_files(b) - {FAMILY_MODULES[b.name]} for b in bases))
        others = set().union(*(family_files(f) for f in everyone.values())) - allowed
        assert family_files(family) <= loaded, name
        assert not loaded & others, f"loading a {name} imported {sorted(loaded & others)}"
        assert not {m for m in loaded if m.startswith(("hf_genzoo.app", "hf_genzoo.trilemma"))}, name


def test_each_command_is_a_module_and_genzoo_help_imports_none_of_them():
    from hf_genzoo.cli import COMMANDS

    for name in COMMANDS:  # `hf_genzoo/commands/<name>.py` has the parser and the command
        module = __import__(f"hf_genzoo.commands.{name}", fromlist=["_"])
        assert callable(getattr(module, f"{name}_command_parser")) and callable(getattr(module, f"{name}_command"))
    code = (
        "import sys, contextlib, io\n"
        "from hf_genzoo.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "heavy = ('torch', 'diffusers')\n"
        "ours = ('hf_genzoo.commands.', 'hf_genzoo.families.')\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.startswith(ours)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", f"`genzoo --help` imported {out.stdout.strip()}"
