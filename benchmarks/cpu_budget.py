"""Wall and CPU time of a benchmark's runs, and the ratio the CPU allows.

The benchmarks compare an end-to-end run with the network alone on the same
items.  Where the network alone keeps every core busy, whatever else the
end-to-end run computes (reading, detecting, decoding, writing) has to take
cores from it, so the CPU time the end-to-end run used, spread perfectly
over all cores, is a lower bound on its wall time.  The *CPU ceiling*

    model-only wall / max(model-only wall, end-to-end CPU / cores)

is then the highest end-to-end / model-only ratio any scheduling of the same
work could reach on this machine; only doing less work outside the network
(or more cores than the network uses) raises it.  Both times come from the
same run, as the ratios do.

The *displacement estimate*

    model-only wall / (model-only wall + CPU outside the network / cores)

is what the ratio comes to if every core-second spent outside the network
delays the network by 1/cores of a second (as it would if the network's
threads, which share out each layer between them, always waited for the one
whose core was taken).  The ratios measured on a 2-core machine fall at or
a little below it (2026-12-01: 0.00-0.08 below it, every task).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """One run: wall seconds and the CPU seconds of every thread of the process."""

    wall: float
    cpu: float


def timed(fn) -> Timing:
    """Run ``fn()`` once and return its wall and process CPU time."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return Timing(time.perf_counter() - t0, time.process_time() - c0)


def best_of(fn, repeats: int) -> Timing:
    """The fastest (by wall time) of ``repeats`` runs of ``fn()``."""
    return min((timed(fn) for _ in range(repeats)), key=lambda t: t.wall)


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def cpu_ceiling(model: Timing, e2e: Timing, n_cores: int | None = None) -> float:
    """The end-to-end / model-only ratio the end-to-end run's CPU time allows."""
    n_cores = n_cores or cores()
    return model.wall / max(model.wall, e2e.cpu / n_cores)


def displacement_estimate(model: Timing, e2e: Timing, n_cores: int | None = None) -> float:
    """The ratio if CPU time outside the network delays the network core for core."""
    n_cores = n_cores or cores()
    outside = max(e2e.cpu - model.cpu, 0.0)
    return model.wall / (model.wall + outside / n_cores)


def report_cpu(
    model: Timing, e2e: Timing, n_items: int, unit: str, width=30, fixed=None,
    reference="model only",
) -> None:  # fmt: skip
    """Print the CPU time of both runs per item and the CPU ceiling of the ratio
    (also without the start-up run ``fixed``, when given); ``reference`` names
    the network-alone run ``model``."""
    n_cores = cores()
    per = 1e3 / max(n_items, 1)
    outside = max(e2e.cpu - model.cpu, 0.0) * per
    print(
        f"  {'CPU per ' + unit:<{width}}: end to end {e2e.cpu * per:.3f} ms, {reference} "
        f"{model.cpu * per:.3f} ms ({model.cpu / model.wall:.2f} of {n_cores} cores busy); "
        f"outside the network {outside:.3f} ms"
    )
    print(
        f"  {'CPU ceiling of the ratio':<{width}}: {cpu_ceiling(model, e2e, n_cores):.2f}"
        f"   ({reference} wall / end-to-end CPU spread over {n_cores} cores)"
    )
    print(
        f"  {'displacement estimate':<{width}}: "
        f"{displacement_estimate(model, e2e, n_cores):.2f}"
        f"   (outside CPU taken from the network's {n_cores} cores)"
    )
    if fixed is not None:
        steady = Timing(e2e.wall - fixed.wall, e2e.cpu - fixed.cpu)
        print(
            f"  {'CPU ceiling without start-up':<{width}}: "
            f"{cpu_ceiling(model, steady, n_cores):.2f}; displacement estimate "
            f"{displacement_estimate(model, steady, n_cores):.2f}"
        )
