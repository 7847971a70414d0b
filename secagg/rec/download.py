"""Download helper for the official GroupLens MovieLens archives: fetch, verify SHA-256, cache.

Only the standard library is used (``urllib``, ``hashlib``, ``zipfile``). An archive is accepted
only when its SHA-256 matches the pinned value; cached archives are re-verified before use.
Extraction refuses members that would escape the target directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError

BASE_URL = "https://files.grouplens.org/datasets/movielens/"


@dataclass(frozen=True)
class Archive:
    """A published archive: file name, SHA-256, size in bytes and the ratings file inside it."""

    filename: str
    sha256: str
    size: int
    ratings: str

    @property
    def stem(self) -> str:
        return self.filename.removesuffix(".zip")


# SHA-256 and sizes as recorded for the GroupLens archives by tensorflow_datasets' url_checksums.
ARCHIVES: dict[str, Archive] = {
    "ml-100k": Archive("ml-100k.zip", "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
                       4924029, "ml-100k/u.data"),
    "ml-1m": Archive("ml-1m.zip", "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                     5917549, "ml-1m/ratings.dat"),
    "ml-20m": Archive("ml-20m.zip", "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
                      198702078, "ml-20m/ratings.csv"),
    "ml-25m": Archive("ml-25m.zip", "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
                      261978986, "ml-25m/ratings.csv"),
    "ml-latest-small": Archive("ml-latest-small.zip",
                               "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
                               978202, "ml-latest-small/ratings.csv"),
}


def default_cache_dir() -> Path:
    """``$SECAGG_CACHE``, else ``$XDG_CACHE_HOME/secagg``, else ``~/.cache/secagg``."""
    if os.environ.get("SECAGG_CACHE"):
        return Path(os.environ["SECAGG_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "secagg"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(url: str, sha256: str, dest: Path, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` unless a verified copy is already there; verify SHA-256."""
    sha256 = sha256.lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ConfigError(f"sha256 must be 64 hex digits, got {sha256!r}")
    if dest.is_file():
        if sha256_of(dest) == sha256:
            return dest
        dest.unlink()  # a stale or corrupt cache entry: fetch again
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name, suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != sha256:
            raise DataError(f"{url}: SHA-256 mismatch (got {h.hexdigest()}, expected {sha256}); "
                            "the download is corrupt or the file changed upstream")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DataError(f"could not download {url}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def extract(archive: Path, target: Path) -> Path:
    """Extract a zip archive into ``target``, refusing members that escape it."""
    root = target.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                dest = (root / member).resolve()
                if dest != root and root not in dest.parents:
                    raise DataError(f"{archive}: member {member!r} would extract outside {root}")
            zf.extractall(root)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{archive}: not a zip archive ({exc})") from None
    return root


def download_dataset(name: str, *, cache_dir: str | Path | None = None, base_url: str = BASE_URL,
                     archive: Archive | None = None, timeout: float = 60.0) -> Path:
    """Download (once), verify and extract a MovieLens archive; returns the ratings file's path."""
    if archive is None:
        try:
            archive = ARCHIVES[name]
        except KeyError:
            raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(sorted(ARCHIVES))}") from None
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    ratings = cache / archive.ratings
    marker = cache / f"{archive.stem}.verified"
    if ratings.is_file() and marker.is_file() and marker.read_text().strip() == archive.sha256:
        return ratings
    zip_path = fetch(base_url.rstrip("/") + "/" + archive.filename, archive.sha256,
                     cache / archive.filename, timeout=timeout)
    extracted = cache / archive.stem
    if extracted.exists():
        shutil.rmtree(extracted)
    extract(zip_path, cache)
    if not ratings.is_file():
        raise DataError(f"{zip_path}: archive has no {archive.ratings}")
    marker.write_text(archive.sha256 + "\n")
    return ratings
