"""Catalogue-scale prediction on Dask workers (local, a running scheduler, SLURM or PBS)."""
