# repro's Snakemake rules: one job per point of a manifest.
#
# `repro run` drives these rules through Snakemake's Python API with config
# {"repro": {"plans": [PLAN, …]}}, the plan files it wrote into the store. In your own
# Snakefile, declare experiments first, then include the rules (see repro.workflow):
#
#     import repro.workflow
#     sweep = repro.workflow.experiment("exp.yaml", config)
#     include: repro.workflow.rules()
#
# Each job runs one point's container and writes its run record; its output is the point's
# marker, STORE/points/KEY.json, which names the run that produced it and its outputs folder.
# A point whose `from:` mounts show upstream points that have not run yet waits on them: its
# job (named by its lineage key) takes their markers as input, so they run first.
# Manifest resources become Snakemake's: cpus → threads, memory → mem_mb, timeout → runtime.

import repro.workflow.jobs as _repro_jobs

_repro = _repro_jobs.context(config)


rule repro_point:
    input:
        _repro.upstream_markers,
    output:
        _repro.marker_pattern,
    wildcard_constraints:
        key=_repro_jobs.KEY_PATTERN,
    threads: _repro.threads
    resources:
        **_repro.resources,
    run:
        _repro_jobs.run_job(_repro, wildcards.key)
