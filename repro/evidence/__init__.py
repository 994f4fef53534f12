"""Signed evidence about runs: in-toto statements with SLSA provenance for records
(:mod:`.provenance`), checking runs against them offline (:mod:`.check`), and signed
verification summaries (:mod:`.summary`)."""
