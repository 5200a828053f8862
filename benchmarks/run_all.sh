#!/usr/bin/env bash
# Run every benchmark in turn (nothing else should run on the machine meanwhile);
# each prints its own ratios.  Data are simulated once into WORKDIR (default work_runs/).
#
#   bash benchmarks/run_all.sh [WORKDIR] 2>&1 | tee benchmarks.log
set -euo pipefail
W=${1:-work_runs}
python benchmarks/bench_predict.py --task lens --n 20000 --workdir "$W/bench_lens20k"
python benchmarks/bench_predict.py --task morphology --n 20000 --workdir "$W/bench_morphology20k"
python benchmarks/bench_predict.py --task photoz --n 20000 --workdir "$W/bench_photoz20k"
python benchmarks/bench_predict.py --task deblend --n 5000 --workdir "$W/bench_deblend_stamps"
python benchmarks/bench_stretch.py --workdir "$W/bench_stretch"
python benchmarks/bench_readers.py --task photoz --workdir "$W/bench_photoz20k"
python benchmarks/bench_images.py --task deblend --n 16 --workdir "$W/bench_deblend_images"
python benchmarks/bench_images.py --task deblend --n 3 --field-size 1024 --workdir "$W/bench_deblend_images"
python benchmarks/bench_images.py --task paint --n 16 --workdir "$W/bench_paint_images"
python benchmarks/bench_train.py --n 5000 --epochs 3 --workdir "$W/bench_train"
python benchmarks/bench_pack_train.py --n 1000 --epochs 1,3 --workdir "$W/bench_pack_train"
python benchmarks/bench_pipeline.py --catalog "$W/bench_lens20k/catalog.fits" --workdir "$W/bench_pipeline"
python benchmarks/bench_precision.py --workdir "$W/bench_precision"
python benchmarks/bench_batch.py --sizes 10000,100000 --workdir "$W/bench_batch"
