"""evaluation: from a claim file and a model's activations to a verdict with its evidence.

Contents
--------
schema           : reading claim YAML; `ClaimFileError` and the field validators every kind uses.
component_claim  : H1-H3 style claims (``claim.yaml``).
intervention_claim : H5 causal claims (``intervention.yaml``).
agreement_claim  : H4 cross-model claims (``model_agreement.yaml``).
kinds            : the registry of claim kinds (file name -> loader, scope, evaluator).
discovery        : every claim file of every kind under some directories; unique ids.
components       : per-component statistics -> figures -> verdict (H1-H3).
controls         : the controls a component claim must beat (`ControlRow`s).
dissociation     : H5a (ablation double dissociation).
localization     : H5b (causal-tracing localization).
intervention_data: what H5 claims share on one model.
agreement        : H4 (profiles across models).
agreement_inputs : H4's per-model inputs: computed per run, recorded by shards, evaluated at a merge.
component_names  : TransformerLens hook names beside our component names in a result.
result           : `ClaimResult`, `ControlRow`, `ComparisonRow`: all the report reads.
"""
