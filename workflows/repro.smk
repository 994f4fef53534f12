# repro's Snakemake rules: one job per point of a manifest.
#
# `repro run` drives these rules through Snakemake's Python API with config
# {"repro": {"plan": PLAN}}, PLAN being the plan file it wrote into the store.
# Each job runs one point's container and writes its run record; its output is the
# point's marker, STORE/points/KEY.json, which names the run that produced it.

import repro.workflow.rules as _repro_rules

_repro = _repro_rules.context(config)


rule repro_point:
    output:
        _repro.marker_pattern,
    wildcard_constraints:
        key=_repro_rules.KEY_PATTERN,
    run:
        _repro_rules.run_job(_repro, wildcards.key)
