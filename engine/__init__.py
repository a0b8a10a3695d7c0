"""engine: the model engine. From ``--model`` and a task set to activations, answers and interventions.

It imports from `tasks` (and torch/transformers), never from `fixtures`, `evaluation` or `report`.

Contents
--------
model/         : what ``--model`` names (`specs`), fetching and verifying files (`files`), GGUF
                 conversion (`convert`), loading (`loading`, `lazy`), the architecture table
                 (`families`) and map (`sites`), reading/replacing a site (`site_hooks`), `tiny`,
                 TransformerLens names of components (`tl_names`).
hooks          : forward hooks that are always removed (`Trace`-style context managers).
capture        : one batched pass that records reduced activations at every capture site.
activations    : a model's activations on a task set: captured once, cached, split by side.
behaviour      : greedy answers and answer log-probabilities.
patterns       : attention patterns reduced to one score per sequence, layer and head.
parity         : guards that captured features do not depend on how the capture was run.
provider       : activations of the model and of its random-weights twins on derived task sets.
cache          : the on-disk activation cache (safetensors + manifest, published by rename, no
                 lock: safe on NFS).
tokenizer_memo : the tokenizer answers a warm session needs, remembered on disk.
intervention/  : the layer runner on the model's own forward, ablations, attribution patching,
                 causal tracing, attention knockout, answer metrics.
progress       : the callback API long steps report through (rendered by `fixtures.terminal`).
cpu_share      : other processes' CPU use, and the torch threads a parallel worker may take.
"""
