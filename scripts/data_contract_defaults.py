"""Record the data contract in the shipped default bundles (metadata only).

Bundles trained with this version record their data contract by themselves
(``train``: the median of what a sample of the training files' headers state,
and background noise measured on the training images). The shipped models
were trained before; this script simulates 2,000 objects with each one's
training simulator and seed (``scripts/train_default_<task>.sh``),
measures the contract the same way, and writes it into the bundle with
:func:`astrocnn.io.bundle.update_meta` (the Keras members, the predictions and
the checksum do not change).

    python scripts/data_contract_defaults.py [WORKDIR]
"""

import subprocess
import sys
from pathlib import Path

from astrocnn.engine.layout import catalog_with_layout
from astrocnn.engine.train import training_set_from_source
from astrocnn.io.bundle import read_meta, update_meta
from astrocnn.io.contract import describe, training_contract
from astrocnn.tasks.registry import get_task

TRAINING_SEEDS = {"lens": 1000, "morphology": 3000, "photoz": 1000, "deblend": 5000}
N = 2000


def main(workdir: Path) -> None:
    for name, seed in TRAINING_SEEDS.items():
        task, sims = get_task(name), workdir / name
        if not (sims / "catalog.fits").exists():
            subprocess.run(
                ["astrocnn", "simulate", name, "--n", str(N), "--seed", str(seed),
                 "--out", str(sims), "--quiet"],
                check=True,
            )  # fmt: skip
        meta = read_meta(task.default_model())
        source, layout = catalog_with_layout(
            sims / "catalog.fits", task, ",".join(meta["bands"]), None, None, None, ()
        )
        data = training_set_from_source(source, layout.spec, layout.bands, quiet=True)
        contract = training_contract(data.headers, data.bands, data.images, meta["input_shape"][:2])
        update_meta(
            task.default_model(),
            {
                "data_contract": contract,
                "data_contract_source": f"astrocnn simulate {name} --n {N} --seed {seed} "
                "(the first objects of the training set), measured after training",
            },
        )
        print(f"{name}:", *describe(contract), sep="\n")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "work_runs/data_contract"))
