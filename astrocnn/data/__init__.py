"""Data: preprocessing, augmentation, image loading and packed HDF5 sets."""
