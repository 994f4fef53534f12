"""The Snakemake bridge: the rules in workflows/ and how repro drives them."""
