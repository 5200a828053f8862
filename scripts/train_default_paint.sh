#!/usr/bin/env bash
# Regenerate the shipped default painting model with astrocnn commands only.
#
#   bash scripts/train_default_paint.sh [WORKDIR]
#
# Simulates 1,500 paired 64x64 dark-matter / gas maps (seed 7000), trains the
# periodic U-Net, then evaluates it on 50 fresh maps (seed 8000) next to the
# log-linear bias baseline fitted on the training maps.  Copy WORKDIR/paint.keras
# to astrocnn/default_models/ and update astrocnn/default_models/paint.md from
# WORKDIR/report/metrics.json.
set -euo pipefail
WORK=${1:-work_runs/default_paint}
mkdir -p "$WORK"
time astrocnn simulate paint --n 1500 --seed 7000 --out "$WORK/train" --quiet
time astrocnn train paint --catalog "$WORK/train/catalog.fits" --out "$WORK/paint.keras" \
    --epochs 20 --batch-size 16 --learning-rate 2e-3 --widths 16,32,64,128 --seed 1
astrocnn simulate paint --n 50 --seed 8000 --out "$WORK/test" --quiet
astrocnn evaluate paint --model "$WORK/paint.keras" --catalog "$WORK/test/catalog.fits" \
    --baseline-train "$WORK/train/catalog.fits" --report "$WORK/report" --quiet
