#!/usr/bin/env bash
# Regenerate the shipped default lens model with astrocnn commands only.
#
#   bash scripts/train_default_lens.sh [WORKDIR]
#
# Simulates 20,000 training cutouts (seed 1000), packs them, trains the
# default CNN (one band blanked in a fifth of the training images, so that a
# missing band costs little), then evaluates it on 5,000 fresh cutouts (seed
# 2000, never seen in training) and writes the report next to the model.  About 25 minutes on a
# 2-core CPU.  Copy WORKDIR/lens.keras to astrocnn/default_models/lens.keras
# and update astrocnn/default_models/lens.md with WORKDIR/report/metrics.json
# (and report_no_z/metrics.json: the same test set with the z band missing).
set -euo pipefail
WORK=${1:-work_runs/default_lens}
mkdir -p "$WORK"
time astrocnn simulate lens --n 20000 --seed 1000 --out "$WORK/train" --quiet
time astrocnn pack --catalog "$WORK/train/catalog.fits" --out "$WORK/train.h5" --task lens --quiet
time astrocnn train lens --data "$WORK/train.h5" --out "$WORK/lens.keras" \
    --epochs 30 --batch-size 64 --learning-rate 2e-3 --widths 16,32,64,128 --seed 1 \
    --band-dropout 0.2
astrocnn simulate lens --n 5000 --seed 2000 --out "$WORK/test" --quiet
astrocnn evaluate lens --model "$WORK/lens.keras" --catalog "$WORK/test/catalog.fits" \
    --report "$WORK/report" --quiet
# the same 5,000 cutouts with the z band missing (zero-filled)
python scripts/blank_band.py "$WORK/test/catalog.fits" z "$WORK/test_no_z"
astrocnn evaluate lens --model "$WORK/lens.keras" --catalog "$WORK/test_no_z/catalog.fits" \
    --missing-band zero --report "$WORK/report_no_z" --quiet
