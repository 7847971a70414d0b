"""Where the C ABI of the native core is installed (for cffi/ctypes users and mobile builds).

``library_path()`` is the shared library ``libsecagg`` built from src_cpp/ and exporting the
functions declared in ``header_path()`` (``secagg.h``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import NativeError


def _library_name() -> str:
    if sys.platform == "darwin":
        return "libsecagg.dylib"
    if sys.platform == "win32":
        return "secagg.dll"
    return "libsecagg.so"


def _find(relative: str) -> Path:
    from .. import __path__ as package_dirs  # several directories in editable installs

    for base in package_dirs:
        candidate = Path(base) / relative
        if candidate.is_file():
            return candidate
    raise NativeError(f"{relative} is not installed next to the secagg package; reinstall with "
                      "`pip install .`")


def library_path() -> Path:
    """Path of the installed C-ABI shared library."""
    return _find(f"lib/{_library_name()}")


def header_path() -> Path:
    """Path of the installed C header ``secagg.h``."""
    return _find("include/secagg.h")
