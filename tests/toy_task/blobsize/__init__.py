"""A toy sixth task, kept in one folder: the size of a Gaussian blob (tests only).

It exists to show that a task is one package plus one registry entry: the
test registers it with :func:`astrocnn.tasks.registry.register` and runs
simulate, train, predict and evaluate through the real command line.
"""
