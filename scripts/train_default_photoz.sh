#!/usr/bin/env bash
# Regenerate the shipped default photo-z model with astrocnn commands only.
#
#   bash scripts/train_default_photoz.sh [WORKDIR]
#
# Simulates 40,000 LSST-like u,g,r,i,z,y galaxies (seed 1000), packs them,
# trains the CNN + mixture density network on the images with E(B-V) as an
# extra input, then evaluates it on 5,000 fresh galaxies (seed 2000) next to
# the kNN baseline on the catalogue magnitudes, fitted on the same 40,000
# training galaxies.  Copy
# WORKDIR/photoz.keras to astrocnn/default_models/ and update
# astrocnn/default_models/photoz.md from WORKDIR/report*/metrics.json (also with
# the u band zero-filled); then run scripts/data_contract_defaults.py and
# scripts/feature_stats_defaults.py.
set -euo pipefail
WORK=${1:-work_runs/default_photoz}
mkdir -p "$WORK"
time astrocnn simulate photoz --n 40000 --seed 1000 --out "$WORK/train" --quiet
time astrocnn pack --catalog "$WORK/train/catalog.fits" --out "$WORK/train.h5" --task photoz --quiet
time astrocnn train photoz --data "$WORK/train.h5" --out "$WORK/photoz.keras" \
    --extra-inputs ebv --mdn-components 5 --epochs 40 --batch-size 128 \
    --learning-rate 2e-3 --widths 32,64,128,256 --seed 1 --band-dropout 0.2
astrocnn simulate photoz --n 5000 --seed 2000 --out "$WORK/test" --quiet
astrocnn evaluate photoz --model "$WORK/photoz.keras" --catalog "$WORK/test/catalog.fits" \
    --baseline-train "$WORK/train/catalog.fits" --report "$WORK/report" --quiet
astrocnn evaluate photoz --model "$WORK/photoz.keras" --catalog "$WORK/test/catalog.fits" \
    --baseline-train "$WORK/train/catalog.fits" --report "$WORK/report_tta" --tta --quiet
python scripts/blank_band.py "$WORK/test/catalog.fits" u "$WORK/test_no_u"
astrocnn evaluate photoz --model "$WORK/photoz.keras" --catalog "$WORK/test_no_u/catalog.fits" \
    --missing-band zero --report "$WORK/report_no_u" --quiet
