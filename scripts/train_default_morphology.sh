#!/usr/bin/env bash
# Regenerate the shipped default morphology model with astrocnn commands only.
#
#   bash scripts/train_default_morphology.sh [WORKDIR]
#
# Simulates 16,000 g,r,i FITS cutouts of the four Galaxy Zoo 1 style classes
# (seed 3000), packs and trains the default CNN, then evaluates it on 5,000
# fresh cutouts (seed 4000), with every band and with g zero-filled. One
# band is blanked at random in 20 % of the training images (--band-dropout
# 0.2) so the model tolerates a missing band. Copy WORKDIR/morphology.keras
# to astrocnn/default_models/, run scripts/data_contract_defaults.py and
# scripts/feature_stats_defaults.py, and update
# astrocnn/default_models/morphology.md from WORKDIR/report*/metrics.json.
set -euo pipefail
WORK=${1:-work_runs/default_morphology}
mkdir -p "$WORK"
time astrocnn simulate morphology --n 16000 --seed 3000 --out "$WORK/train" --quiet
time astrocnn pack --catalog "$WORK/train/catalog.fits" --out "$WORK/train.h5" --task morphology --quiet
time astrocnn train morphology --data "$WORK/train.h5" --out "$WORK/morphology.keras" \
    --epochs 16 --batch-size 64 --learning-rate 2e-3 --widths 16,32,64,128 --seed 1 \
    --band-dropout 0.2
astrocnn simulate morphology --n 5000 --seed 4000 --out "$WORK/test" --quiet
astrocnn evaluate morphology --model "$WORK/morphology.keras" --catalog "$WORK/test/catalog.fits" \
    --report "$WORK/report" --quiet
python scripts/blank_band.py "$WORK/test/catalog.fits" g "$WORK/test_no_g"
astrocnn evaluate morphology --model "$WORK/morphology.keras" --catalog "$WORK/test_no_g/catalog.fits" \
    --missing-band zero --report "$WORK/report_no_g" --quiet
