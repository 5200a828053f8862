"""Write outputs atomically: to a temporary name in the target folder, then rename.

A reader never sees a half-written file, and a crash never destroys a file
that was already there.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from astrocnn.errors import OutputError


def check_writable(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Fail early if ``path`` cannot be written.

    Parameters
    ----------
    path : path-like
        Output file that will be created.
    overwrite : bool
        Whether an existing file may be replaced.

    Returns
    -------
    pathlib.Path
        The absolute output path.

    Raises
    ------
    OutputError
        If the file exists (and ``overwrite`` is false), or its folder is
        missing or not writable.
    """
    path = Path(path).absolute()
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; give a file name")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists (use --overwrite to replace it)")
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: folder {folder} is not writable")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None):
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    Parameters
    ----------
    path : path-like
        Final destination.
    suffix : str, optional
        Suffix of the temporary name (some writers choose the format from
        it); defaults to the suffixes of ``path``.

    Yields
    ------
    pathlib.Path
        Where the caller writes.  It is removed if the block raises.
    """
    path = Path(path).absolute()
    suffix = "".join(path.suffixes) if suffix is None else suffix
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create a file there ({exc.strerror})") from None
    os.close(fd)
    tmp = Path(tmp)
    tmp.unlink()  # writers that refuse to overwrite may now create it
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{path}: write failed ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def prepare_output_dir(path: str | os.PathLike, *, marker: str = "catalog.fits") -> Path:
    """Create an output folder for a simulation, refusing to overwrite a previous one.

    Parameters
    ----------
    path : path-like
        Folder to create (parents included).
    marker : str
        A file whose presence means the folder already holds a data set.

    Returns
    -------
    pathlib.Path
        The absolute folder path.
    """
    path = Path(path).absolute()
    if (path / marker).exists():
        raise OutputError(f"{path}: already holds {marker}; choose another folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: folder is not writable")
    return path
