#!/usr/bin/env bash
# Regenerate the shipped JPEG/PNG default morphology model (morphology_jpeg.keras)
# with astrocnn commands only.
#
#   bash scripts/train_default_morphology_jpeg.sh [WORKDIR]
#
# Galaxy Zoo style SDSS colour composites: the sdss survey preset (0.396"/px,
# r seeing 1.1-1.8", SDSS depths, the bright Galaxy Zoo-like sample), 423x423
# JPEGs of the i,r,g composite, the richer galaxy population, four classes
# (elliptical, spiral, edge_on, merger) and 10 % label noise (volunteers'
# mistakes; scored on the simulated classes too). Trained with the task's
# default recipe (residual network, label smoothing 0.1, best-validation
# weights) on 64x64 resized inputs (--size-mode resize: any JPEG size is
# resized the same way at predict time). Copy WORKDIR/morphology_jpeg.keras to
# astrocnn/default_models/ and update astrocnn/default_models/morphology_jpeg.md
# from WORKDIR/report/metrics.json.
set -euo pipefail
WORK=${1:-work_runs/default_morphology_jpeg}
N=${N:-5000}
EPOCHS=${EPOCHS:-15}
mkdir -p "$WORK"
SIM=(--survey sdss --size 423 --format jpeg --population rich --label-noise 0.1 --quiet)
[ -f "$WORK/train/catalog.fits" ] || time astrocnn simulate morphology --n "$N" --seed 7000 --out "$WORK/train" "${SIM[@]}"
[ -f "$WORK/train.h5" ] || time astrocnn pack --catalog "$WORK/train/catalog.fits" --out "$WORK/train.h5" \
    --size 64 --size-mode resize --quiet
time astrocnn train morphology --data "$WORK/train.h5" --out "$WORK/morphology_jpeg.keras" \
    --epochs "$EPOCHS" --batch-size 64 --seed 1 --overwrite
[ -f "$WORK/test/catalog.fits" ] || astrocnn simulate morphology --n 2000 --seed 8000 --out "$WORK/test" "${SIM[@]}"
astrocnn evaluate morphology --model "$WORK/morphology_jpeg.keras" --catalog "$WORK/test/catalog.fits" \
    --report "$WORK/report" --quiet --overwrite
