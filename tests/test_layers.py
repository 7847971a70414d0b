"""The package's floors import only downward, and importing a low floor stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _loaded_after(statement: str) -> dict[str, list[str]]:
    """The secagg modules (and a few heavy third-party ones) a fresh interpreter has after ``statement``."""
    code = (f"import sys, json\n{statement}\n"
            "print(json.dumps({'secagg': sorted(m for m in sys.modules if m.split('.')[0] == 'secagg'),"
            " 'heavy': sorted(m for m in ('scipy', 'cryptography', 'msgpack', 'tenseal', 'grpc', 'matplotlib')"
            " if m in sys.modules)}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT.parent)
    return json.loads(out.stdout)


def test_the_import_contracts_hold():
    importlinter = pytest.importorskip("importlinter.cli", reason="import-linter is in the [test] extra")
    code = importlinter.lint_imports(config_filename=str(REPO_ROOT / "pyproject.toml"), no_cache=True)
    assert code == 0, "a module imports from a floor above it; run `lint-imports` for the chain"


def test_import_secagg_loads_no_floor():
    loaded = _loaded_after("import secagg")
    assert loaded["secagg"] == ["secagg", "secagg._lazy", "secagg._version"]
    assert loaded["heavy"] == []


def test_a_kernel_module_loads_only_the_core_below_it():
    loaded = _loaded_after("import secagg.core.prg")
    assert loaded["secagg"] == ["secagg", "secagg._core", "secagg._lazy", "secagg._validate", "secagg._version",
                                "secagg.core", "secagg.core.prg", "secagg.errors"]
    assert loaded["heavy"] == []


def test_public_names_resolve_where_the_readme_shows_them():
    import secagg

    for name in secagg.__all__:
        assert getattr(secagg, name) is not None, name
    assert secagg.shamir.split is not None and secagg.dp.DPConfig is not None
    assert secagg.simulate is secagg.sim.simulate
    with pytest.raises(AttributeError, match="no attribute 'simulat'"):
        secagg.simulat  # noqa: B018
