"""repro: run experiments in pinned containers through Snakemake and record exactly what ran."""

__version__ = "0.1.0"

__all__ = ["__version__"]
