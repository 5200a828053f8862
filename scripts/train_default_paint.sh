#!/usr/bin/env bash
# Regenerate the shipped default painting model with astrocnn commands only.
#
#   bash scripts/train_default_paint.sh [WORKDIR]
#
# Simulates 3,000 paired 64x64 dark-matter / gas maps (5 Mpc/h slabs of 600
# periodic 25 Mpc/h boxes, seed 7000) and trains the periodic U-Net in four
# stages, each a warm start of the previous one (~60 min on 2 CPU cores):
#   1. 30 epochs, power-spectrum term on gas and HI, on the log maps' spectra
#   2. 15 epochs at a lower learning rate, HI weight doubled
#   3. 12 epochs, the term on the spectra of the physical maps
#   4.  8 epochs at 1e-4, gas weight lowered (its pixel MSE)
# then evaluates it on 50 fresh maps (seed 8000) next to the log-linear bias
# baseline fitted on the training maps, with and without test-time augmentation,
# and prints the information ceiling of the maps (scripts/paint_information_ceiling.py).
# Copy WORKDIR/paint.keras to astrocnn/default_models/ and update
# astrocnn/default_models/paint.md from WORKDIR/report*/metrics.json.
set -euo pipefail
WORK=${1:-work_runs/default_paint}
mkdir -p "$WORK"
CAT="$WORK/train/catalog.fits"
time astrocnn simulate paint --n 3000 --seed 7000 --out "$WORK/train" --quiet
time astrocnn train paint --catalog "$CAT" --out "$WORK/paint_stage1.keras" \
    --epochs 30 --batch-size 16 --learning-rate 2e-3 --widths 16,32,64,128 \
    --power-loss-weight 1,0,1 --power-loss-space transformed --seed 1
time astrocnn train paint --catalog "$CAT" --out "$WORK/paint_stage2.keras" \
    --init-from "$WORK/paint_stage1.keras" --epochs 15 --batch-size 16 --learning-rate 5e-4 \
    --power-loss-weight 1,0,2 --power-loss-space transformed --seed 2
time astrocnn train paint --catalog "$CAT" --out "$WORK/paint_stage3.keras" \
    --init-from "$WORK/paint_stage2.keras" --epochs 12 --batch-size 16 --learning-rate 3e-4 \
    --power-loss-weight 1,0,1 --power-loss-space physical --seed 3
time astrocnn train paint --catalog "$CAT" --out "$WORK/paint.keras" \
    --init-from "$WORK/paint_stage3.keras" --epochs 8 --batch-size 16 --learning-rate 1e-4 \
    --power-loss-weight 0.2,0,1 --power-loss-space physical --seed 4
astrocnn simulate paint --n 50 --seed 8000 --out "$WORK/test" --quiet
astrocnn evaluate paint --model "$WORK/paint.keras" --catalog "$WORK/test/catalog.fits" \
    --baseline-train "$CAT" --report "$WORK/report" --quiet
astrocnn evaluate paint --model "$WORK/paint.keras" --catalog "$WORK/test/catalog.fits" \
    --baseline-train "$CAT" --report "$WORK/report_tta" --tta --quiet
python scripts/paint_information_ceiling.py
