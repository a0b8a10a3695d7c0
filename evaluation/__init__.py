"""evaluation: from a claim file and a model's measurements to a verdict with its evidence.

Contents
--------
schema              : the claim-file skeleton (`load_claim_file`), `ClaimFileError` and the field
                      validators every kind uses; where the shipped claims are.
result              : `ClaimResult` (and `for_claim`), `ControlRow`, `ComparisonRow`, verdicts,
                      `InsufficientEvidence` (an inconclusive verdict): all the report reads.
component_claim     : component claims as data (``claim.yaml``: H1-H3, H1d, F claims).
components          : per-component statistics -> figures -> verdict.
claim_estimands     : a component claim's estimands (pi1, effect shares) with bootstrap intervals.
controls            : the controls a component claim must beat (`ControlRow`s).
power_table         : the smallest effect a component claim's run can detect.
factorial_effects   : the factorial claims' book effect and hops x book interaction.
intervention_claim  : intervention claims as data (``intervention.yaml``: H5a, H5b, H5f).
intervention_data   : what the intervention claims on one model share (prompts, clean run, means).
dissociation        : H5 ablation double dissociation (criteria selection; dispatches causal).
causal_selection    : components chosen by their causal effect (AtP ranks, exact ablation verifies).
causal_dissociation : H5a/H5f as a causal test: cross-fitted selection, random-set null, verdict.
localization        : H5b by causal tracing (the study's criteria).
localization_rome   : H5b as ROME did it (noise past block 0, windows, depth interval).
agreement_claim     : cross-model agreement claims as data (``model_agreement.yaml``: H4).
agreement           : H4: per-layer profiles across models, surrogate nulls, baseline contrast.
agreement_inputs    : H4's per-model inputs: computed per run, recorded by shards, evaluated at a merge.
component_names     : TransformerLens hook names beside our component names in a result.
pattern_claim       : attention-pattern claims as data (``pattern.yaml``: P1, P2).
attention_patterns  : P1/P2 on the model and its twins.
knockout_claim      : attention-knockout claims (``knockout.yaml``: P3): schema and evaluator.

Each claim kind is declared whole (loader, evaluator, plots, cost) in `kinds`, which ties these
evaluators to the report's plots.
"""
