"""`pip install .` (not only `-e .`) installs `pipelines/` as `hf_genzoo.pipelines` and the card templates."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_regular_install_has_the_pipelines_and_model_cards(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    code = (
        "import hf_genzoo, hf_genzoo.pipelines as p, hf_genzoo.hub.card as c; "
        "from hf_genzoo import AutoencoderPipeline; "
        "import hf_genzoo.commands.sample as s, hf_genzoo.registry as r; r.families(); "
        "print(hf_genzoo.__file__); print(p.__file__); print(c.template_path('autoencoder')); print(s.__file__)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    paths = run.stdout.split()
    assert all(path.startswith(str(target)) for path in paths), paths
    assert paths[1].endswith("hf_genzoo/pipelines/__init__.py")
    # every subpackage of the source tree (the family records, the commands, ...) is in the install
    packages = {path.parent.relative_to(REPO) for path in (REPO / "hf_genzoo").rglob("__init__.py")}
    missing = [str(pkg) for pkg in packages if not (target / pkg / "__init__.py").exists()]
    assert not missing, f"setup.cfg's packages lack {missing}"
