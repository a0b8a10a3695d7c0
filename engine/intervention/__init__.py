"""engine.intervention: changing the model's computation and measuring the answer.

Contents
--------
packing, runner, own_forward : shared prefix + left-padded suffixes; a layer range run on the
                               model's own modules, reusing earlier positions' keys/values.
runs           : batched ablation runs over measured sequences from the clean residual stream.
ablation       : mean, resample and zero ablations of heads, neurons and whole outputs.
attribution    : attribution patching (AtP) scores of every head and neuron.
tracing        : ROME-style causal tracing (corrupt the subject, restore one state).
knockout       : attention knockout (Geva et al. 2023).
content        : where the user's content sits in a formatted prompt's tokens.
answer_metrics : how strongly the model still gives the right answer.
"""
