"""Science tasks: one module each, plugged into the shared engine via the registry."""
