"""``astrocnn evaluate``: predict a labelled catalogue and write the science report.

The report folder gets ``metrics.json`` (the task's metrics plus run
information), ``predictions.fits`` (the per-row outputs next to the truth)
and the task's figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from astrocnn import __version__
from astrocnn.engine.conversion import input_conversion
from astrocnn.engine.inference import cutout_spec
from astrocnn.engine.predict import (
    load_task_bundle,
    output_table,
    predict_source,
    report_run,
    run_log,
    source_kind,
)
from astrocnn.engine.progress import progress_bar
from astrocnn.errors import AstrocnnError, OutputError
from astrocnn.io.atomic import atomic_path
from astrocnn.io.catalog import read_catalog, require_columns, write_table
from astrocnn.io.cutouts import read_cutout
from astrocnn.io.jsonsafe import json_safe


def _prepare_report_dir(report: Path, overwrite: bool) -> Path:
    report = Path(report).absolute()
    if report.exists() and any(report.iterdir()) and not overwrite:
        raise OutputError(f"{report}: report folder is not empty (use --overwrite)")
    try:
        report.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{report}: cannot create report folder ({exc.strerror})") from None
    return report


def _gap_reference(meta):
    """The bundle's held-out embeddings (its training domain), or None (older bundles)."""
    return (meta.get("feature_stats") or {}).get("sample")


def _domain_gap(meta, preds, ok, log):
    """The gap between the model's training domain and these rows, in its features:
    what domain adaptation shrinks (see :func:`astrocnn.engine.adapt.domain_gap`)."""
    reference = _gap_reference(meta)
    if reference is None or preds.embeddings is None or len(ok) < 10:
        return None
    from astrocnn.engine.adapt import domain_gap

    gap = domain_gap(np.asarray(reference), preds.embeddings[ok])
    adapted = meta.get("adaptation")
    gap["adapted_to"] = adapted["target"] if adapted else None
    log(
        f"domain gap to the training images, in the network's features: MMD^2 "
        f"{gap['mmd']:.4f}, domain-classifier accuracy {gap['domain_accuracy']:.3f} "
        "(0.5: indistinguishable)"
    )
    return gap


def evaluate(
    task,
    source,
    report,
    *,
    model=None,
    batch_size=256,
    size_mode=None,
    overwrite=False,
    quiet=False,
    tta=False,
    baseline_train=None,
    conversion=None,
    missing_band="error",
    log=print,
) -> dict:
    """Evaluate a model bundle on a labelled catalogue.

    Parameters
    ----------
    task : Task
        The task; the bundle must have been trained for it.
    source : Source
        Labelled objects (the catalogue holds the task's truth columns).
    report : path-like
        Output folder (created; must be empty unless ``overwrite``).
    model : path-like, optional
        Bundle; the task's default model when omitted.
    batch_size, size_mode, quiet
        As for :func:`astrocnn.engine.predict.predict`.
    overwrite : bool
        Allow writing into a non-empty report folder.
    tta : bool
        Test-time augmentation (tasks that support it).
    baseline_train : path-like, optional
        Labelled catalogue to fit the task's classical baseline on (tasks
        with a baseline; by default they cross-validate on ``source``).
    conversion, missing_band, log
        As for :func:`astrocnn.engine.predict.predict`.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    bundle = load_task_bundle(task, model, log=log, image_kind=source_kind(source))
    meta = bundle.meta
    converter = input_conversion(meta, conversion)
    reader_log = run_log(converter)
    require_columns(source.table, task.truth_columns(meta), source.name)
    train_table = None
    if baseline_train is not None:
        if not any(option.name == "baseline_train" for option in task.options_for("evaluate")):
            raise AstrocnnError(f"task {task.name!r} fits no classical baseline")
        train_table = read_catalog(baseline_train)
    report = _prepare_report_dir(report, overwrite)
    with progress_bar(len(source.paths), "evaluate", quiet) as advance:
        preds = predict_source(
            task,
            bundle,
            source,
            batch_size=batch_size,
            size_mode=size_mode,
            progress=advance,
            tta=tta,
            missing_band=missing_band,
            keep_images=True,
            keep_embeddings=_gap_reference(meta) is not None and not tta,
            conversion=converter,
            reader_log=reader_log,
        )
    ok = np.flatnonzero(preds.ok)
    if ok.size == 0:
        raise AstrocnnError(f"{source.name}: no cutout could be read; nothing to evaluate")
    table = source.table[ok]
    truth = task.targets(table, meta, source.name)
    decoded = {k: v[ok] for k, v in preds.columns.items()}
    spec = cutout_spec(meta, size_mode, missing_band, converter)

    def load_images(rows):
        rows = list(rows)
        images = np.zeros((len(rows), *spec.size, spec.n_bands), np.float32)
        for i, r in enumerate(rows):
            images[i] = read_cutout(source.paths[ok[r]], spec).data
        return images

    baseline = task.baseline(table, meta, train_table, load_images)
    scores = task.evaluate(truth, decoded, meta, table=table, baseline=baseline)
    results = json_safe(scores)
    results.update(
        {
            "n_rows": len(source.paths),
            "n_failed": int(len(source.paths) - ok.size),
            "catalog": str(source.name),
            "model": str(bundle.path),
            "model_sha256": meta.get("sha256"),
            "astrocnn_version": __version__,
            "tta": bool(tta),
        }
    )
    gap = _domain_gap(meta, preds, ok, log)
    if gap is not None:
        results["domain_gap"] = gap
    with atomic_path(report / "metrics.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2))

    for name in task.image_outputs:
        preds.columns.pop(name, None)
    predictions = output_table(source, task, bundle, preds, conversion=converter)
    report_run(converter, log, reader_log)
    for col in task.truth_columns(meta):
        predictions[col] = source.table[col]
    write_table(predictions, report / "predictions.fits", overwrite=True)

    task.plots(truth, decoded, table, load_images, report, meta, baseline=baseline, scores=scores)
    return results
