"""Model bundles: one ``.keras`` file that carries everything ``predict`` needs.

A bundle is a standard Keras 3 ``.keras`` archive (a zip holding
``config.json``, ``metadata.json`` and ``model.weights.h5``) with one more
member, ``astrocnn.json``: the task name, band names and order, input shape,
preprocessing parameters, class/output names, provenance, validation metrics
and the SHA-256 of the Keras members.  Keras ignores the extra member, so the
file also opens with plain ``keras.saving.load_model``.

Loading verifies the checksum before anything is deserialised and then uses
Keras safe mode (no Lambda layers or arbitrary code).  The metadata can be
read without importing TensorFlow (``astrocnn info`` is instant).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from astrocnn.errors import BundleError
from astrocnn.io.atomic import atomic_path, check_writable

META_MEMBER = "astrocnn.json"
FORMAT_VERSION = 1


@dataclass
class Bundle:
    """A loaded model and its metadata.

    Attributes
    ----------
    model : keras.Model
        The network (not compiled).
    meta : dict
        Contents of ``astrocnn.json``.
    path : pathlib.Path
        Where it was loaded from.
    cache : dict
        Objects derived from the model that are costly to rebuild (compiled
        inference graphs), kept while the bundle is in use.
    """

    model: object
    meta: dict
    path: Path
    cache: dict = field(default_factory=dict, repr=False)


def _keras_digest(archive: zipfile.ZipFile) -> str:
    digest = hashlib.sha256()
    for name in sorted(n for n in archive.namelist() if n != META_MEMBER):
        digest.update(name.encode())
        digest.update(b"\0")
        with archive.open(name) as member:
            for chunk in iter(lambda: member.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def save_bundle(model, meta: dict, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Save ``model`` and ``meta`` as one ``.keras`` bundle, atomically.

    Parameters
    ----------
    model : keras.Model
        Trained network.
    meta : dict
        JSON-serialisable metadata; ``sha256`` and ``format`` are added.
    path : path-like
        Destination; must end in ``.keras``.
    overwrite : bool
        Replace an existing bundle.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise BundleError(f"{path}: a model bundle must have the .keras extension")
    path = check_writable(path, overwrite=overwrite)
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            full = dict(meta, format=FORMAT_VERSION, sha256=_keras_digest(archive))
            archive.writestr(META_MEMBER, json.dumps(full, indent=2, sort_keys=True))
    return path


def update_meta(path: str | os.PathLike, changes: dict) -> Path:
    """Add or replace metadata keys of a bundle, keeping its Keras members byte for byte.

    The checksum covers the Keras members only, so it stays valid; the
    bundle is verified first and rewritten atomically.
    """
    path = Path(path)
    meta = dict(read_meta(path), **changes)
    with atomic_path(path, suffix=".keras") as tmp:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp, "w") as target:
            for info in source.infolist():
                if info.filename != META_MEMBER:
                    target.writestr(info, source.read(info.filename))
            # a fixed date: the same metadata gives the same file
            member = zipfile.ZipInfo(META_MEMBER, date_time=(1980, 1, 1, 0, 0, 0))
            target.writestr(member, json.dumps(meta, indent=2, sort_keys=True))
    return path


def read_meta(path: str | os.PathLike, *, verify: bool = True) -> dict:
    """Read a bundle's metadata without loading the network.

    Parameters
    ----------
    path : path-like
        The ``.keras`` bundle.
    verify : bool
        Check the SHA-256 of the Keras members against the stored one.

    Raises
    ------
    BundleError
        If the file is missing, not a bundle, or fails its checksum.
    """
    path = Path(path)
    if not path.exists():
        raise BundleError(f"{path}: model bundle not found")
    try:
        with zipfile.ZipFile(path) as archive:
            if META_MEMBER not in archive.namelist():
                raise BundleError(
                    f"{path}: not an astrocnn bundle (a .keras file without {META_MEMBER})"
                )
            meta = json.loads(archive.read(META_MEMBER))
            if verify:
                actual = _keras_digest(archive)
                if actual != meta.get("sha256"):
                    raise BundleError(
                        f"{path}: checksum mismatch (stored {str(meta.get('sha256'))[:12]}…, "
                        f"actual {actual[:12]}…); the file is corrupt or was modified"
                    )
    except BundleError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise BundleError(f"{path}: not a readable model bundle ({exc})") from None
    return meta


def load_bundle(
    path: str | os.PathLike, *, task: str | None = None, custom_objects: dict | None = None
) -> Bundle:
    """Load a bundle in Keras safe mode after verifying its checksum.

    Parameters
    ----------
    path : path-like
        The ``.keras`` bundle.
    task : str, optional
        Refuse a bundle trained for another task.
    custom_objects : dict, optional
        Custom Keras classes the network needs (``{name: class}``); the
        caller imports them, so this layer never imports a model or a task.

    Returns
    -------
    Bundle
    """
    path = Path(path)
    meta = read_meta(path)
    if task is not None and meta.get("task") != task:
        raise BundleError(f"{path}: model was trained for task {meta.get('task')!r}, not {task!r}")
    from astrocnn._tf import import_keras

    keras = import_keras()
    try:
        model = keras.saving.load_model(
            path, safe_mode=True, compile=False, custom_objects=custom_objects
        )
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for bad archives
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BundleError(f"{path}: Keras refused to load the model ({first})") from None
    return Bundle(model, meta, path)


def format_model_card(meta: dict, path: str | os.PathLike) -> str:
    """Render the model card printed by ``astrocnn info``."""
    lines = [f"model:        {path}", f"task:         {meta.get('task')}"]
    lines.append(
        f"architecture: {meta.get('architecture')}  ({meta.get('n_params', '?')} parameters)"
    )
    lines.append(f"bands:        {', '.join(meta.get('bands', []))}")
    lines.append(f"input shape:  {'x'.join(str(s) for s in meta.get('input_shape', []))}")
    if meta.get("class_names"):
        lines.append(f"classes:      {', '.join(meta['class_names'])}")
    pretraining = meta.get("pretraining")
    if pretraining:
        lines.append(
            f"pretrained:   {pretraining.get('method')}, self-supervised on "
            f"{pretraining.get('n_images')} unlabelled images ({pretraining.get('epochs')} "
            f"epochs, final loss {pretraining.get('final_loss', float('nan')):.4g}, chance "
            f"{pretraining.get('chance_loss', float('nan')):.4g}); a backbone for "
            f"'astrocnn train {meta.get('task')} --init-from', not a model to predict with"
        )
    adaptation = meta.get("adaptation")
    if adaptation:
        gap = adaptation.get("gap_after_training") or {}
        lines.append(
            f"adapted to:   {adaptation.get('target')} ({adaptation.get('n_target')} unlabelled "
            f"images; {adaptation.get('method')}, weight {adaptation.get('weight')}); domain "
            f"gap after training: MMD^2 {gap.get('mmd', float('nan')):.4f}, domain-classifier "
            f"accuracy {gap.get('domain_accuracy', float('nan')):.3f} (0.5: indistinguishable)"
        )
    if meta.get("output_columns"):
        lines.append(f"outputs:      {', '.join(meta['output_columns'])}")
    if meta.get("n_components"):
        lines.append(
            f"mixture:      {meta['n_components']} Gaussian components in "
            f"{meta.get('target_space', 'the target')}"
        )
    contract = meta.get("data_contract")
    if contract:
        from astrocnn.io.contract import describe

        lines.append("data contract (per band):")
        lines.extend(describe(contract, meta.get("image_kind", "fits")))
    features = meta.get("feature_stats")
    if features:
        lines.append(
            f"ood_score:    Mahalanobis distance of the {features['dim']}-d embedding, "
            f"fitted on {features['n_train']} training images; 1 = the "
            f"{features['percentile']:g}th percentile of {features['n_held_out']} held-out ones"
        )
    cost = meta.get("missing_band_cost")
    if cost:
        per_band = ", ".join(f"{b} {cost[b]:.3f}" for b in meta.get("bands", []) if b in cost)
        lines.append(
            f"missing band: validation {cost['metric']} {cost['all']:.3f}; one band "
            f"zero-filled: {per_band}"
        )
    extra = (meta.get("extra_inputs") or {}).get("columns")
    if extra:
        lines.append(f"extra inputs: {', '.join(extra)} (catalogue columns, standardised)")
    pre = meta.get("preprocessing", {})
    if pre:
        scales = ", ".join(f"{s:.4g}" for s in pre.get("scales", []))
        lines.append(
            f"preprocess:   {pre.get('kind')} (scales {scales}); size mode {meta.get('size_mode')}"
        )
    prov = meta.get("provenance", {})
    if prov:
        lines.append("provenance:")
        lines.extend(f"  {k}: {v}" for k, v in sorted(prov.items()))
    metrics = meta.get("validation_metrics", {})
    if metrics:
        lines.append("validation metrics:")
        for k, v in sorted(metrics.items()):
            if isinstance(v, list | dict):  # histograms, per-bin tables: see metrics.json
                continue
            lines.append(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    lines.append(f"sha256:       {meta.get('sha256')}")
    return "\n".join(lines)
