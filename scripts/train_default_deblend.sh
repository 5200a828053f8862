#!/usr/bin/env bash
# Regenerate the shipped default deblending model with astrocnn commands only.
#
#   bash scripts/train_default_deblend.sh [WORKDIR]
#
# Simulates 12,000 g,r,i blends of 2-4 galaxies (seed 5000), packs them, trains
# the U-Net, then evaluates it on 2,000 fresh blends (seed 6000) next to the sep
# (SExtractor) baseline on the same stamps.  Copy WORKDIR/deblend.keras to
# astrocnn/default_models/ and update astrocnn/default_models/deblend.md from
# WORKDIR/report/metrics.json.
set -euo pipefail
WORK=${1:-work_runs/default_deblend}
mkdir -p "$WORK"
time astrocnn simulate deblend --n 12000 --seed 5000 --out "$WORK/train" --quiet
time astrocnn pack --catalog "$WORK/train/catalog.fits" --out "$WORK/train.h5" --task deblend --quiet
time astrocnn train deblend --data "$WORK/train.h5" --out "$WORK/deblend.keras" \
    --epochs 16 --batch-size 32 --learning-rate 3e-3 --widths 8,16,32,64 --seed 1
astrocnn simulate deblend --n 2000 --seed 6000 --out "$WORK/test" --quiet
astrocnn evaluate deblend --model "$WORK/deblend.keras" --catalog "$WORK/test/catalog.fits" \
    --report "$WORK/report" --quiet
