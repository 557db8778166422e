"""srcnn: single-image super-resolution (SRCNN and successors) with the paper's protocol."""

__version__ = "0.1.0"
