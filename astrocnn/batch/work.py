"""What a batch run's partitions do: the same prediction code as an in-process run.

Three kinds of work cover every task, chosen from the task's declared
capabilities (never its name):

- :class:`CatalogRows`: rows of a catalogue of cutouts (lens, morphology,
  photo-z, deblending stamps) -> :func:`astrocnn.engine.predict.predict_rows`;
- :class:`MapItems`: maps of an image-to-image task (painting), from a
  catalogue or files -> :func:`astrocnn.engine.maps.predict_map_items`;
- :class:`FieldFiles`: whole fields (deblending) ->
  :func:`astrocnn.engine.fields.predict_field`, one field per item.

The driver cuts the items into partitions and ships each partition's payload
(a slice of the catalogue, or a list of map/field items) to a worker, which
runs :func:`run_partition`: the model bundle is loaded once per worker process
and kept (:func:`worker_bundle`); the partition's output rows are written as
one part file (temporary name + rename); image products get names that are
unique over the whole run, so parts never collide.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astrocnn.batch.parts import write_part
from astrocnn.errors import AstrocnnError

_BUNDLES: dict = {}  # (path, sha256) -> Bundle, one per worker process
LOAD_COUNT = {"n": 0}  # bundles loaded by this process (tests check "once per worker")


def worker_bundle(model_path: str, sha: str, task, tf_threads: int | None):
    """The bundle for ``model_path``, loaded once per process and cached.

    ``tf_threads`` caps TensorFlow's intra-op threads in this process (set
    before TensorFlow runs anything), so several workers on one machine do
    not oversubscribe its cores.
    """
    key = (model_path, sha)
    if key not in _BUNDLES:
        from astrocnn._tf import import_tensorflow
        from astrocnn.engine.predict import load_task_bundle

        tf = import_tensorflow()
        if tf_threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(int(tf_threads))
            except RuntimeError:
                pass  # TensorFlow already initialised in this process
        _BUNDLES[key] = load_task_bundle(task, model_path)
        LOAD_COUNT["n"] += 1
    return _BUNDLES[key]


def _fingerprint(values) -> str:
    digest = hashlib.sha256()
    for v in values:
        digest.update(str(v).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


class _Work:
    """Common behaviour: what stays on the driver is not shipped to workers."""

    driver_only: tuple = ()

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in self.driver_only}

    def identity(self) -> dict:
        """What a resumed run must match: the input, its items, the options (after
        :meth:`open`)."""
        return {
            "input": f"{self.n_items} {self.description}",
            "items_fingerprint": _fingerprint(self._item_keys()),
            "options": {},
        }


@dataclass
class CatalogRows(_Work):
    """Rows of a catalogue of cutouts, predicted by the task's network.

    Attributes
    ----------
    catalog : str
        The catalogue's path (labels and ``INPUT`` provenance).
    bands : list of str
        The model's bands.
    file_columns : list of str or None
        Explicit file columns (default: the task's).
    options : dict
        Keyword options of :func:`~astrocnn.engine.predict.predict_rows`
        (``size_mode``, ``tta``, ``decode_options``, ``missing_band``,
        ``batch_size``; ``conversion`` holds the
        :class:`~astrocnn.io.conversion.ConversionOptions`, turned into each
        partition's conversion on the worker).
    """

    catalog: str
    bands: list
    file_columns: list | None = None
    options: dict = field(default_factory=dict)
    default_partition_size = 8192
    description = "rows"
    driver_only = ("table", "names")

    @classmethod
    def from_request(cls, request, task, bands):
        """The rows of ``request.catalog`` (files on the command line are not batched)."""
        if not request.catalog:
            raise AstrocnnError(f"batch runs of {task.name} take a --catalog of cutouts")
        options = {
            "size_mode": request.size_mode,
            "tta": request.tta,
            "decode_options": request.decode_options,
            "missing_band": request.missing_band,
            "batch_size": request.batch_size,
            "jit": request.jit,
            "conversion": request.conversion,
        }
        return cls(request.catalog, list(bands), list(request.file_columns) or None, options)

    def merged_path(self, out) -> Path:
        return Path(out).absolute()

    def open(self, table=None):
        """Keep the catalogue (read here unless the driver has it) and fix the
        product names."""
        from astrocnn.io.catalog import read_catalog
        from astrocnn.io.products import unique_file_names

        self.table = read_catalog(self.catalog) if table is None else table
        self.n_items = len(self.table)
        self.names = unique_file_names(self.table["id"])

    def prepare_output(self, out, task, resume, overwrite):
        """Create the folder of per-object image products (tasks that have them)."""
        from astrocnn.io.products import prepare_products_dir, products_dir

        if not task.image_outputs:
            return None
        folder = products_dir(out)
        if resume and folder.is_dir():
            return folder
        return prepare_products_dir(folder, overwrite)

    def identity(self) -> dict:
        return {
            "input": self.catalog,
            "items_fingerprint": _fingerprint(self.table["id"]),
            "options": json.loads(json.dumps(self.options, default=str)),
        }

    def payload(self, start, stop):
        sub = self.table[start:stop]
        sub.meta = dict(self.table.meta)
        return {"table": sub, "names": self.names[start:stop]}

    def run(self, task, bundle, payload, start, products):
        conversion = self.options.get("conversion")
        from astrocnn.engine.conversion import input_conversion
        from astrocnn.engine.predict import predict_rows
        from astrocnn.engine.sources import from_catalog

        source = from_catalog(
            self.catalog,
            self.bands,
            task.input_columns(self.file_columns),
            table=payload["table"],
            first_row=start,
        )
        return predict_rows(
            task,
            bundle,
            source,
            images_folder=products,
            image_names=payload["names"],
            **{**self.options, "conversion": input_conversion(bundle.meta, conversion)},
        )


@dataclass
class MapItems(_Work):
    """Maps of an image-to-image task; outputs ``OUT/<id>.fits`` and ``OUT/catalog.fits``.

    Attributes
    ----------
    items : list of MapItem
        Every map of the run (from a catalogue or from files).
    batch_size : int
        Tiles per network call.
    tta : bool
        Test-time augmentation (8 views per pass).
    """

    items: list
    batch_size: int = 16
    tta: bool = False
    default_partition_size = 4
    description = "maps"
    driver_only = ("items", "names")

    @classmethod
    def from_request(cls, request, task, bands):
        """Every map of ``request.files`` or ``request.catalog``."""
        from astrocnn.engine.maps import map_items

        columns = task.input_columns(request.file_columns)
        return cls(map_items(request.files, request.catalog, bands, columns), tta=request.tta)

    def merged_path(self, out) -> Path:
        return Path(out).absolute() / "catalog.fits"

    def open(self, table=None):
        from astrocnn.io.products import unique_file_names

        self.n_items = len(self.items)
        self.names = unique_file_names([item.id for item in self.items])

    def prepare_output(self, out, task, resume, overwrite):
        from astrocnn.errors import OutputError

        out = Path(out)
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out}: --out must be a folder for task {task.name!r}")
        stale = out.is_dir() and any(p.name != "catalog.fits.parts" for p in out.iterdir())
        if stale and not (resume or overwrite):
            raise OutputError(f"{out}: output folder is not empty (use --overwrite)")
        out.mkdir(parents=True, exist_ok=True)
        return out

    def _item_keys(self):
        return [(item.path, item.index) for item in self.items]

    def payload(self, start, stop):
        return {"items": self.items[start:stop], "names": self.names[start:stop]}

    def run(self, task, bundle, payload, start, products):
        from astrocnn.engine.maps import predict_map_items

        return predict_map_items(
            task,
            bundle,
            payload["items"],
            products,
            names=payload["names"],
            batch_size=self.batch_size,
            tta=self.tta,
        )


@dataclass
class FieldFiles(_Work):
    """Whole fields (detect, cut, predict): per field ``<stem>_catalog.fits`` and maps.

    The merged table ``OUT/fields.fits`` lists each field with its status, the
    number of sources and its catalogue.

    Attributes
    ----------
    files : list of str
        The fields.
    batch_size : int
        Stamps per network call.
    """

    files: list
    batch_size: int = 256
    tta: bool = False
    default_partition_size = 1
    description = "fields"
    driver_only = ("files",)

    @classmethod
    def from_request(cls, request, task, bands):
        """The fields named on the command line."""
        return cls(list(request.files), request.batch_size, request.tta)

    def merged_path(self, out) -> Path:
        return Path(out).absolute() / "fields.fits"

    def open(self, table=None):
        from astrocnn.errors import AstrocnnError

        stems = [Path(f).name.split(".")[0] for f in self.files]
        clash = sorted({s for s in stems if stems.count(s) > 1})
        if clash:
            raise AstrocnnError(
                f"fields with the same name would write the same outputs: {', '.join(clash)}"
            )
        self.n_items = len(self.files)

    def prepare_output(self, out, task, resume, overwrite):
        from astrocnn.errors import OutputError

        out = Path(out)
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out}: for fields, --out must be a folder")
        if not (resume or overwrite):
            for f in self.files:
                earlier = out / f"{Path(f).name.split('.')[0]}_catalog.fits"
                if earlier.exists():
                    raise OutputError(f"{earlier}: exists (use --overwrite)")
        out.mkdir(parents=True, exist_ok=True)
        return out

    def _item_keys(self):
        return self.files

    def identity(self) -> dict:
        return {**super().identity(), "options": {"tta": bool(self.tta)}}

    def payload(self, start, stop):
        return {"files": self.files[start:stop]}

    def run(self, task, bundle, payload, start, products):
        from astropy.table import Table

        from astrocnn.engine.fields import predict_fields
        from astrocnn.errors import AstrocnnError

        rows = []
        options = dict(batch_size=self.batch_size, overwrite=True, tta=self.tta)
        fields = predict_fields(
            task, bundle, payload["files"], products, log=lambda message: None, **options
        )
        for path, summary in fields:
            if isinstance(summary, AstrocnnError):
                rows.append((path, "error", str(summary), "", -1))
            else:
                rows.append((path, "ok", "", summary.catalog.name, summary.n_sources))
        table = Table(rows=rows, names=("field", "status", "reason", "catalog", "n_sources"))
        table["n_sources"] = np.asarray(table["n_sources"], dtype=np.int64)
        table.meta.update({"TASK": task.name, "MODEL": str(bundle.path.name)})
        return table, [r[2] for r in rows if r[2]]


# the work kind of each prediction mode (:data:`astrocnn.engine.modes.PREDICTORS`)
WORK_KINDS = {"cutouts": CatalogRows, "maps": MapItems, "fields": FieldFiles}


def work_for(task, request, bands):
    """The work of ``request`` (:class:`~astrocnn.engine.modes.PredictRequest`), in the
    mode the task names for it."""
    kind = WORK_KINDS[task.prediction_mode(bool(request.files))]
    return kind.from_request(request, task, bands)


def run_partition(work, task, model_path, sha, index, start, payload, products, part, tf):
    """Worker side: predict one partition and write its part file.

    Returns
    -------
    dict
        ``index``, ``rows``, ``ok``, the first ``errors`` (at most 5), the
        worker's ``pid`` and how many bundles it has loaded so far.
    """
    # the task object travels to the worker by pickle (its class by name), so
    # this layer never looks tasks up in the registry
    bundle = worker_bundle(model_path, sha, task, tf)
    table, errors = work.run(task, bundle, payload, start, products)
    write_part(table, Path(part), index=index, row0=start, model_sha=sha)
    return {
        "index": index,
        "rows": len(table),
        "ok": len(table) - len(errors),
        "errors": errors[:5],
        "n_errors": len(errors),
        "pid": os.getpid(),
        "bundle_loads": LOAD_COUNT["n"],
    }
