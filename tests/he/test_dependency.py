"""Without TenSEAL, asking for an HE aggregator says how to install it."""

from __future__ import annotations

import sys

import pytest

from secagg import create_aggregator
from secagg.errors import DependencyError


@pytest.mark.parametrize("name", ["he-bfv", "he-ckks"])
def test_missing_tenseal_gives_install_hint(name, monkeypatch):
    for mod in [m for m in sys.modules if m == "tenseal" or m.startswith("tenseal.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "tenseal", None)  # makes `import tenseal` fail
    with pytest.raises(DependencyError, match=r'pip install "secagg\[he\]"'):
        create_aggregator(name)
    with pytest.raises(ImportError):  # DependencyError is also an ImportError
        create_aggregator(name)
