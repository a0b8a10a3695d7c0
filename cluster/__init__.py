"""Sharded runs: the suite as shards on a cluster (Slurm through submitit), merged into one report.

Contents
--------
shards      : `ShardSpec` (one shard: model(s), claims, report and cache directories), its plain
              pytest command, `run_shard` (what each cluster job runs) and its ``shard.json``.
launch      : a submitit executor (a Slurm job array, or local processes for tests) and `launch`.
merge       : `merge_reports`: shards' report directories -> one evidence.json and report.html;
              refuses shards of other claim files or suite versions, flags a (claim, model)
              measured twice with different figures, lists failed shards.
cross_model : cross-model claims (H4) evaluated at the merge from the shards' ``merge_inputs``.
cli         : ``python -m cluster run ...`` and ``python -m cluster merge ...``.

On top of the flow (like ``fixtures/``): it runs pytest and reads the report's files, through
`report.evidence` only. See docs/cluster.md.
"""
