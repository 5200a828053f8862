"""Map task names to their classes without importing them (or TensorFlow).

Adding a task is one package in :mod:`astrocnn.tasks` plus one line here (or
one :func:`register` call, e.g. from a plug-in or a test).
"""

from __future__ import annotations

import importlib

from astrocnn.errors import AstrocnnError

TASKS = {
    "lens": ("astrocnn.tasks.lens.task", "LensTask"),
    "morphology": ("astrocnn.tasks.morphology.task", "MorphologyTask"),
    "photoz": ("astrocnn.tasks.photoz.task", "PhotozTask"),
    "deblend": ("astrocnn.tasks.deblend.task", "DeblendTask"),
    "paint": ("astrocnn.tasks.paint.task", "PaintTask"),
}


def register(name: str, module: str, cls: str) -> None:
    """Register task ``name`` as class ``cls`` of ``module`` (imported when first used)."""
    TASKS[name] = (module, cls)


def task_names() -> list[str]:
    """Names of the registered tasks, cheap enough for ``--help``."""
    return list(TASKS)


def get_task(name: str):
    """Instantiate the task called ``name``.

    Raises
    ------
    AstrocnnError
        If no task has that name.
    """
    try:
        module, cls = TASKS[name]
    except KeyError:
        raise AstrocnnError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None
    return getattr(importlib.import_module(module), cls)()


def model_path(text: str, image_kind: str = "fits") -> str:
    """A bundle path as given, or a task name for that task's shipped default model
    (for images of ``image_kind``: see :meth:`Task.default_model`)."""
    return str(get_task(text).default_model(image_kind)) if text in TASKS else text
