"""The shared engine: train, predict, evaluate and pack, driven by a task object."""
