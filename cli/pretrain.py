"""``astrocnn pretrain TASK``: self-supervised pretraining of TASK's backbone on
unlabelled cutouts (the science is in :mod:`astrocnn.engine.pretrain`).

Registered on the ``astrocnn`` group by the last lines of :mod:`astrocnn_cli.main`.
Every check that needs no image (the output path, the task, the options, the
number of catalogue rows) runs before TensorFlow is imported.
"""

from __future__ import annotations

import click

from astrocnn_cli.main import (
    ARCHITECTURE,
    CATALOG_LAYOUT,
    OVERWRITE_PARAM,
    PACKED_DATA,
    QUIET_PARAM,
    _log_to,
    _task_group,
    one_source,
    parse_widths,
    read_training_set,
)
from astrocnn_cli.task_commands import params_of

PRETRAIN_OPTIONS = params_of(
    click.option(
        "--catalog",
        type=click.Path(dir_okay=False),
        default=None,
        help="Catalogue of unlabelled cutouts (no truth columns needed).",
    ),
    PACKED_DATA,
    click.option(
        "--out",
        required=True,
        type=click.Path(dir_okay=False),
        help="Backbone bundle to write (.keras), for train --init-from.",
    ),
    click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True),
    click.option(
        "--batch-size",
        type=click.IntRange(min=2),
        default=128,
        show_default=True,
        help="Images per batch; each is contrasted with the others of its batch, so larger "
        "is better (and only whole batches are used).",
    ),
    click.option(
        "--learning-rate",
        type=click.FloatRange(min=0, min_open=True),
        default=1e-3,
        show_default=True,
        help="Peak learning rate (Adam; linear warm-up over a tenth of the epochs, then "
        "cosine decay).",
    ),
    click.option(
        "--temperature",
        type=click.FloatRange(min=0, min_open=True),
        default=0.2,
        show_default=True,
        help="Temperature of the NT-Xent loss (SimCLR: 0.1-0.5).",
    ),
    *ARCHITECTURE,
    click.option(
        "--projection-dim",
        type=click.IntRange(min=2),
        default=128,
        show_default=True,
        help="Output size of the projection head the loss compares.",
    ),
    click.option(
        "--max-shift",
        type=click.IntRange(min=0),
        default=3,
        show_default=True,
        metavar="PIXELS",
        help="Views: largest random shift (after a random flip/90-degree rotation).",
    ),
    click.option(
        "--max-blur",
        type=click.FloatRange(min=0),
        default=1.0,
        show_default=True,
        metavar="PIXELS",
        help="Views: largest sigma of the Gaussian PSF blur (the same in every band).",
    ),
    click.option(
        "--max-noise",
        type=click.FloatRange(min=0),
        default=1.0,
        show_default=True,
        metavar="FRACTION",
        help="Views: largest added Gaussian noise, as a fraction of each image's own noise.",
    ),
    *CATALOG_LAYOUT,
    click.option("--seed", type=int, default=0, show_default=True),
)

PRETRAIN_HELP = """Pretrain TASK's backbone on unlabelled cutouts (self-supervised).

    SimCLR: two random views of every image (flips and 90-degree rotations,
    small shifts, a PSF blur, a noise re-draw; never a colour change) are
    pulled together and pushed away from the other images of the batch. The
    bundle written (--out) holds the backbone and the input scaling; fine-tune
    it with few labels: astrocnn train TASK --catalog LABELLED --init-from OUT.
    astrocnn embed TASK --model OUT writes its representations.
    """


def _images(task, given, log):
    """The unlabelled images, their number checked against one batch before reading them
    (the engine checks a packed set's before TensorFlow loads)."""
    from astrocnn.engine.pretrain import check_batch

    rows = {}

    def enough_rows(source):
        rows["n"] = len(source.paths)
        check_batch(rows["n"], given["batch_size"], source.name)

    data = read_training_set(task, given, log, enough_rows)
    if rows:  # a catalogue: some rows may not have been readable
        check_batch(len(data.images), given["batch_size"], data.name, rows["n"])
    return data


def _has_backbone(task) -> bool:
    """Whether ``astrocnn pretrain --help`` lists ``task`` (U-Net tasks have no backbone)."""
    from astrocnn.engine.pretrain import can_pretrain

    return can_pretrain(task)


def _pretrain(task, own, **given):
    from astrocnn.engine import pretrain as engine

    one_source(given)
    engine.check_task(task)
    out = engine.check_output(given["out"], given["overwrite"])
    config = engine.PretrainConfig(
        epochs=given["epochs"],
        batch_size=given["batch_size"],
        learning_rate=given["learning_rate"],
        temperature=given["temperature"],
        architecture=given["arch"],
        widths=parse_widths(given["widths"]),
        convs_per_block=given["convs_per_block"],
        projection_dim=given["projection_dim"],
        max_shift=given["max_shift"],
        max_blur=given["max_blur"],
        max_noise=given["max_noise"],
        seed=given["seed"],
        overwrite=given["overwrite"],
        quiet=given["quiet"],
    )
    log = _log_to(given["quiet"])
    data = _images(task, given, log)
    meta = engine.pretrain(task, data, out, config, log=log)
    record = meta["pretraining"]
    log(
        f"wrote {out} (final loss {record['final_loss']:.4f}, chance "
        f"{record['chance_loss']:.4f}); fine-tune it with: astrocnn train {task.name} "
        f"--catalog LABELLED --init-from {given['out']}"
    )


_task_group(
    "pretrain",
    [*PRETRAIN_OPTIONS, OVERWRITE_PARAM, QUIET_PARAM],
    _pretrain,
    PRETRAIN_HELP,
    "Self-supervised pretraining of TASK's backbone on unlabelled cutouts.",
    listed=_has_backbone,
)
