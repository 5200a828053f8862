#!/usr/bin/env bash
# Regenerate the shipped default photo-z model with astrocnn commands only.
#
#   bash scripts/train_default_photoz.sh [WORKDIR]
#
# Simulates 40,000 LSST-like u,g,r,i,z,y galaxies (seed 1000), packs them,
# trains the CNN + mixture density network on the images with E(B-V) and the
# six catalogue magnitudes as extra inputs, then evaluates it on 5,000 fresh
# galaxies (seed 2000) next to the kNN baseline on the same magnitudes,
# fitted on the same 40,000 training galaxies.  Copy
# WORKDIR/photoz.keras to astrocnn/default_models/ and update
# astrocnn/default_models/photoz.md from WORKDIR/report/metrics.json.
set -euo pipefail
WORK=${1:-work_runs/default_photoz}
mkdir -p "$WORK"
time astrocnn simulate photoz --n 40000 --seed 1000 --out "$WORK/train" --quiet
time astrocnn pack --catalog "$WORK/train/catalog.fits" --out "$WORK/train.h5" --task photoz --quiet
time astrocnn train photoz --data "$WORK/train.h5" --out "$WORK/photoz.keras" \
    --extra-inputs ebv,obs_mag_u,obs_mag_g,obs_mag_r,obs_mag_i,obs_mag_z,obs_mag_y \
    --mdn-components 5 --epochs 16 --batch-size 128 \
    --learning-rate 2e-3 --widths 32,64,128,256 --seed 1
astrocnn simulate photoz --n 5000 --seed 2000 --out "$WORK/test" --quiet
astrocnn evaluate photoz --model "$WORK/photoz.keras" --catalog "$WORK/test/catalog.fits" \
    --baseline-train "$WORK/train/catalog.fits" --report "$WORK/report" --quiet
