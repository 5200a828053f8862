"""Command-line layer of astrocnn (installed as ``astrocnn_cli``)."""
