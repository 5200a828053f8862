#!/usr/bin/env bash
# Regenerate the shipped default deblending model with astrocnn commands only.
#
#   bash scripts/train_default_deblend.sh [WORKDIR]
#
# Simulates 12,000 g,r,i blends of 2-4 galaxies (seed 5000), packs them, trains
# the U-Net in three stages (16 epochs, then two warm starts of 14 more: the
# model of 2026-11-30 is stages 2 and 3 run from the stage-1 model of
# 2026-11-23), then a fourth stage on 12,000 scenes of the richer galaxy
# population with 15 % isolated galaxies (--population rich, seed 5100: compact,
# clumpy, bulge+disk galaxies; a lone galaxy must keep all its flux), then
# evaluates it on 2,000 fresh blends (seed 6000) next to the sep
# (SExtractor) baseline on the same stamps.  Copy WORKDIR/deblend.keras to
# astrocnn/default_models/ and update astrocnn/default_models/deblend.md from
# WORKDIR/report/metrics.json.
set -euo pipefail
WORK=${1:-work_runs/default_deblend}
mkdir -p "$WORK"

# stage 4 alone (STAGE4_ONLY=1 starts from the shipped model, which is stage 3)
deblend_stage4() {
    [ -f "$1/rich/catalog.fits" ] || time astrocnn simulate deblend --n 12000 --seed 5100 \
        --out "$1/rich" --population rich --quiet
    [ -f "$1/rich.h5" ] || time astrocnn pack --catalog "$1/rich/catalog.fits" \
        --out "$1/rich.h5" --task deblend --quiet
    time astrocnn train deblend --data "$1/rich.h5" --out "$1/deblend.keras" \
        --init-from "$2" --epochs "${STAGE4_EPOCHS:-8}" --batch-size 32 \
        --learning-rate 1e-3 --seed 1 --overwrite
}
if [ "${STAGE4_ONLY:-0}" = 1 ]; then
    deblend_stage4 "$WORK" astrocnn/default_models/deblend.keras
    [ -f "$WORK/test/catalog.fits" ] || astrocnn simulate deblend --n 2000 --seed 6000 \
        --out "$WORK/test" --population rich --quiet
    astrocnn evaluate deblend --model "$WORK/deblend.keras" --catalog "$WORK/test/catalog.fits" \
        --report "$WORK/report" --quiet --overwrite
    exit 0
fi
time astrocnn simulate deblend --n 12000 --seed 5000 --out "$WORK/train" --quiet
time astrocnn pack --catalog "$WORK/train/catalog.fits" --out "$WORK/train.h5" --task deblend --quiet
time astrocnn train deblend --data "$WORK/train.h5" --out "$WORK/deblend_stage1.keras" \
    --epochs 16 --batch-size 32 --learning-rate 3e-3 --widths 8,16,32,64 --seed 1
# stages 2 and 3: warm starts (all weights and the scaling of the previous stage),
# 14 more epochs each from a lower learning rate (cosine restarts)
time astrocnn train deblend --data "$WORK/train.h5" --out "$WORK/deblend_stage2.keras" \
    --init-from "$WORK/deblend_stage1.keras" --epochs 14 --batch-size 32 \
    --learning-rate 1e-3 --seed 1
time astrocnn train deblend --data "$WORK/train.h5" --out "$WORK/deblend_stage3.keras" \
    --init-from "$WORK/deblend_stage2.keras" --epochs 14 --batch-size 32 \
    --learning-rate 5e-4 --seed 1
deblend_stage4 "$WORK" "$WORK/deblend_stage3.keras"
astrocnn simulate deblend --n 2000 --seed 6000 --out "$WORK/test" --population rich --quiet
astrocnn evaluate deblend --model "$WORK/deblend.keras" --catalog "$WORK/test/catalog.fits" \
    --report "$WORK/report" --quiet
astrocnn evaluate deblend --model "$WORK/deblend.keras" --catalog "$WORK/test/catalog.fits" \
    --report "$WORK/report_tta" --tta --quiet
