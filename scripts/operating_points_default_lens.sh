#!/usr/bin/env bash
# Store the shipped lens model's operating points (decision thresholds at 1 % and
# 10 % false-positive rate, and the completeness there) in its bundle, measured on
# 5,000 fresh simulations (seed 3000: neither the training set, seed 1000, nor the
# evaluation set of the model card, seed 2000).  Metadata only: the Keras members,
# and so the predictions and the checksum, do not change.  A few minutes on 2 cores.
#
#   bash scripts/operating_points_default_lens.sh [WORKDIR]
#
# Models trained with this version store the same numbers from their validation
# split by themselves (validation_metrics.operating_points).
set -euo pipefail
WORK=${1:-work_runs/operating_points_lens}
MODEL=astrocnn/default_models/lens.keras
mkdir -p "$WORK"
[ -f "$WORK/sims/catalog.fits" ] || astrocnn simulate lens --n 5000 --seed 3000 --out "$WORK/sims" --quiet
astrocnn evaluate lens --model "$MODEL" --catalog "$WORK/sims/catalog.fits" \
    --report "$WORK/report" --overwrite --quiet
python - "$WORK/report/metrics.json" "$MODEL" <<'PY'
import json, sys
from astrocnn.io.bundle import update_meta
metrics = json.load(open(sys.argv[1]))
points = metrics["operating_points"]
update_meta(sys.argv[2], {
    "operating_points": points,
    "operating_points_data": "5,000 fresh simulations: astrocnn simulate lens --n 5000 --seed 3000",
})
for p in points:
    print(f"FPR {p['fpr_target']:g}: threshold {p['threshold']:.6f}, completeness "
          f"{p['completeness']:.4f} (measured FPR {p['fpr']:.4f} on {p['n_neg']} non-lenses)")
PY
