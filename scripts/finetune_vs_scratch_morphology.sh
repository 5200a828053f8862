#!/usr/bin/env bash
# Does fine-tuning the default morphology model beat training from scratch
# when only 500 labelled images exist?  Same 500 images, same epochs and seed;
# both evaluated on 2,000 fresh simulated cutouts.  About 5 minutes on 2 cores.
#
#   bash scripts/finetune_vs_scratch_morphology.sh [WORKDIR]
set -euo pipefail
WORK=${1:-work_runs/finetune_vs_scratch}
rm -rf "$WORK" && mkdir -p "$WORK"
astrocnn simulate morphology --n 500 --seed 5000 --out "$WORK/labelled" --quiet
astrocnn simulate morphology --n 2000 --seed 5001 --out "$WORK/test" --quiet
COMMON=(--catalog "$WORK/labelled/catalog.fits" --epochs 20 --batch-size 32 --seed 1 --quiet)
astrocnn train morphology "${COMMON[@]}" --out "$WORK/scratch.keras"
astrocnn train morphology "${COMMON[@]}" --out "$WORK/finetuned.keras" --init-from morphology
for name in scratch finetuned; do
    astrocnn evaluate morphology --model "$WORK/$name.keras" \
        --catalog "$WORK/test/catalog.fits" --report "$WORK/report_$name" --quiet > /dev/null
done
python - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
rows = {n: json.load(open(f"{work}/report_{n}/metrics.json")) for n in ("scratch", "finetuned")}
print("500 labelled images, evaluated on 2,000 fresh cutouts")
print(f"{'':>12} {'accuracy':>9} {'bal.acc':>8} {'macro F1':>9} {'ECE':>6}")
for name, m in rows.items():
    print(f"{name:>12} {m['accuracy']:9.3f} {m['balanced_accuracy']:8.3f} {m['macro_f1']:9.3f} "
          f"{m['ece']:6.3f}")
gain = rows["finetuned"]["accuracy"] - rows["scratch"]["accuracy"]
print(f"fine-tuning minus scratch: {gain:+.3f} accuracy")
PY
