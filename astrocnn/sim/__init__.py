"""Image simulators for training and testing astronomical CNNs."""
