"""Progress bars for long work (tqdm on stderr), silenced by ``quiet``."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def progress_bar(total: int, description: str, quiet: bool = False):
    """Yield a callable ``advance(n)`` that moves a tqdm bar by ``n`` items."""
    if quiet:
        yield lambda n=1: None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=description, unit="obj", dynamic_ncols=True, leave=True) as bar:
        yield bar.update
