"""repro: run experiments in pinned containers through Snakemake and record exactly what ran."""

__version__ = "0.3.0"
DISTRIBUTION = "repro-runner"
"""The name to install it by (``pip install repro-runner``): ``repro`` on PyPI is another
project's. The import package and the command stay ``repro``."""

__all__ = ["DISTRIBUTION", "__version__"]
