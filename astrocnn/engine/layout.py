"""Decide the band names and cutout layout of a catalogue that has no model yet.

Used by ``pack`` and ``train --catalog``: bands and size come from the
options, else the catalogue's ``BANDS`` metadata, else the task's defaults,
else the first readable cutout.
"""

from __future__ import annotations

from dataclasses import dataclass

from astrocnn.engine.sources import Source, from_catalog
from astrocnn.errors import AstrocnnError
from astrocnn.io.catalog import read_catalog
from astrocnn.io.cutouts import CutoutSpec, image_kind, read_cutout


@dataclass
class Layout:
    """Band names and the cutout spec every row must satisfy."""

    bands: list
    spec: CutoutSpec


def catalog_with_layout(
    catalog, task=None, bands=None, size=None, size_mode=None, hdus=None, file_columns=None
) -> tuple[Source, Layout]:
    """Read ``catalog`` once and decide its layout.

    Parameters
    ----------
    catalog : path-like
        The catalogue.
    task : Task, optional
        Supplies default bands and input size.
    bands : str, optional
        Comma-separated band names.
    size : int, optional
        Square cutout size in pixels.
    size_mode : str, optional
        Size mode (default ``strict``).
    hdus : tuple, optional
        HDUs holding the bands.
    file_columns : sequence of str, optional
        Explicit file column(s).

    Returns
    -------
    (Source, Layout)
    """
    table = read_catalog(catalog)
    if bands:
        names = [b.strip() for b in bands.split(",") if b.strip()]
    elif table.meta.get("BANDS"):
        names = [b.strip() for b in str(table.meta["BANDS"]).split(",")]
    elif task is not None and task.bands:
        names = list(task.bands)
    else:
        names = None
    columns = (
        task.input_columns(file_columns) if task is not None else list(file_columns or ()) or None
    )
    source = from_catalog(catalog, names or ["?"], columns, table=table)
    kind = image_kind(source.paths[0][0]) if source.paths else "fits"
    if kind == "raster" and not bands and not table.meta.get("BANDS"):
        names = None  # a colour composite's channels are R, G, B, not the task's bands
    use_task_size = task is not None and bool(task.bands) and task.input_size is not None
    probe = None
    if names is None or (size is None and not use_task_size):
        probe = _first_readable(source, hdus)
    if names is None:
        names = default_band_names(probe.shape[-1], kind)
    if size is not None:
        hw = (size, size)
    else:
        hw = tuple(task.input_size) if use_task_size else probe.shape[:2]
    spec = CutoutSpec(len(names), tuple(int(s) for s in hw), hdus, size_mode or "strict", kind)
    return source, Layout(names, spec)


def default_band_names(n_channels: int, kind: str) -> list[str]:
    """Names of unnamed channels: R, G, B (or L, grey) for JPEG/PNG images, which
    ``--bands`` renames (e.g. ``i,r,g`` for SDSS composites); band0, band1, ...
    for FITS."""
    if kind == "raster" and n_channels in (1, 3):
        return ["L"] if n_channels == 1 else ["R", "G", "B"]
    return [f"band{i}" for i in range(n_channels)]


def _first_readable(source, hdus):
    for paths in source.paths[:50]:
        try:
            return read_cutout(paths, hdus=hdus).data
        except AstrocnnError:
            continue
    raise AstrocnnError(f"{source.name}: none of the first 50 cutouts could be read")
