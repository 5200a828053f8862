"""Input and output: cutouts, catalogues, output writers and model bundles."""
