#!/usr/bin/env bash
# Regenerate the shipped default painting model with astrocnn commands only.
#
#   bash scripts/train_default_paint.sh [WORKDIR]
#
# Simulates 3,000 paired 64x64 dark-matter / gas maps (5 Mpc/h slabs of 600
# periodic 25 Mpc/h boxes, seed 7000), trains the periodic U-Net with the
# power-spectrum term on gas and HI (30 epochs), then warm-starts it for 15 more
# epochs at a lower learning rate with the HI spectral weight doubled, and
# evaluates it on 50 fresh maps (seed 8000) next to the log-linear bias baseline
# fitted on the training maps, with and without test-time augmentation.  Copy
# WORKDIR/paint.keras to astrocnn/default_models/ and update
# astrocnn/default_models/paint.md from WORKDIR/report*/metrics.json.
set -euo pipefail
WORK=${1:-work_runs/default_paint}
mkdir -p "$WORK"
time astrocnn simulate paint --n 3000 --seed 7000 --out "$WORK/train" --quiet
time astrocnn train paint --catalog "$WORK/train/catalog.fits" --out "$WORK/paint_stage1.keras" \
    --epochs 30 --batch-size 16 --learning-rate 2e-3 --widths 16,32,64,128 \
    --power-loss-weight 1,0,1 --seed 1
time astrocnn train paint --catalog "$WORK/train/catalog.fits" --out "$WORK/paint.keras" \
    --init-from "$WORK/paint_stage1.keras" --epochs 15 --batch-size 16 \
    --learning-rate 5e-4 --power-loss-weight 1,0,2 --seed 2
astrocnn simulate paint --n 50 --seed 8000 --out "$WORK/test" --quiet
astrocnn evaluate paint --model "$WORK/paint.keras" --catalog "$WORK/test/catalog.fits" \
    --baseline-train "$WORK/train/catalog.fits" --report "$WORK/report" --quiet
astrocnn evaluate paint --model "$WORK/paint.keras" --catalog "$WORK/test/catalog.fits" \
    --baseline-train "$WORK/train/catalog.fits" --report "$WORK/report_tta" --tta --quiet
# how much of a slab's gas the dark matter inside it determines (an oracle's T(k), r(k))
python scripts/paint_information_ceiling.py
