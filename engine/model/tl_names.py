"""TransformerLens names of the suite's components: the hook and index that address the same site.

Contents
--------
TL_HOOKS           : component level -> TransformerLens hook name template.
TLNaming           : one model's naming (dense MLP, or a mixture of experts and its units per expert).
naming_for_config  : the `TLNaming` of a HF config (read without weights).
naming_for_layout  : the `TLNaming` of a loaded model's `engine.model.sites.ModelLayout`.
parse_component    : ``"L2H5"`` -> ``("head", 2, 5)``; ``"L3"`` -> ``("layer", 3, None)``.

The suite names components ``L{layer}`` (layer), ``L{layer}H{head}`` (head), ``L{layer}N{unit}``
(neuron); analysis code and SAEs address the same sites by TransformerLens's hook names
(`transformer_lens/components/*.py`; the TransformerBridge exposes the same names as aliases of
the HF modules, `model_bridge/generalized_components`: ``hook_z`` = ``o.hook_in``, ``hook_post``
= ``out.hook_in``, ``hook_resid_post`` = the block's ``hook_out``):

==========  =====================================  ===========================================
level       TransformerLens hook                   index, and which value of ours it is
==========  =====================================  ===========================================
layer       ``blocks.{L}.hook_resid_post``         none: block L's output (our residual stream
                                                   after layer L; before the final norm)
head        ``blocks.{L}.attn.hook_z``             head h of ``[batch, pos, head, d_head]``: the
                                                   input of W_O (our per-head output ``head_in``)
neuron      ``blocks.{L}.mlp.hook_post``           unit n of ``[batch, pos, d_mlp]``: the input
                                                   of W_out, act(W_gate x) * W_in x for gated MLPs
MoE neuron  ``blocks.{L}.mlp.experts.{e}.hook_post``  unit j of expert e, our neuron ``e * I + j``
                                                   (I units per expert); ours is that value times
                                                   the routing weight, 0 where e was not routed
                                                   (TransformerLens's hook sees routed tokens only)
==========  =====================================  ===========================================

Values equal TransformerLens's on a model loaded without weight processing
(``HookedTransformer.from_pretrained_no_processing``): the default ``from_pretrained`` centres
writing weights, which shifts ``hook_resid_post`` (not ``hook_z`` or ``hook_post``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

TL_HOOKS: dict[str, str] = {
    "layer": "blocks.{layer}.hook_resid_post",
    "head": "blocks.{layer}.attn.hook_z",
    "neuron": "blocks.{layer}.mlp.hook_post",
    "expert": "blocks.{layer}.mlp.experts.{expert}.hook_post",
}
_NAME = re.compile(r"L(\d+)(?:([HN])(\d+))?")
_LEVEL_OF_LETTER = {"H": "head", "N": "neuron"}


def parse_component(name: str) -> tuple[str, int, int | None]:
    """``(level, layer, index)`` of a component name; ValueError for anything else.

    Examples
    --------
    >>> parse_component("L2H5"), parse_component("L4N1031"), parse_component("L3")
    (('head', 2, 5), ('neuron', 4, 1031), ('layer', 3, None))
    """
    match = _NAME.fullmatch(str(name))
    if match is None:
        raise ValueError(f"{name!r} is not a component name (L<layer>, L<layer>H<head> or L<layer>N<unit>)")
    if match[2] is None:
        return "layer", int(match[1]), None
    return _LEVEL_OF_LETTER[match[2]], int(match[1]), int(match[3])


@dataclass(frozen=True)
class TLNaming:
    """How one model's components are named in TransformerLens.

    Attributes
    ----------
    n_experts : int
        0 for a dense MLP; else the number of experts of the mixture.
    units_per_expert : int or None
        Units of one expert (needed when `n_experts` > 0): our neuron ``e * I + j`` is unit j of
        expert e.

    Examples
    --------
    >>> TLNaming().address("head", 16, 0)
    ('blocks.16.attn.hook_z', 0)
    >>> TLNaming(n_experts=8, units_per_expert=14336).address("neuron", 3, 14336 * 2 + 7)
    ('blocks.3.mlp.experts.2.hook_post', 7)
    """

    n_experts: int = 0
    units_per_expert: int | None = None

    def __post_init__(self) -> None:
        if self.n_experts < 0 or (self.n_experts and not (self.units_per_expert or 0) > 0):
            raise ValueError(f"a mixture of {self.n_experts} experts needs `units_per_expert` > 0, "
                             f"got {self.units_per_expert!r}")

    def address(self, level: str, layer: int, index: int | None = None) -> tuple[str, int | None]:
        """``(hook name, index)`` of one component; index None for a layer (the whole vector)."""
        hooks, indices = self.addresses(level, np.array([layer]), np.array([-1 if index is None else index]))
        return str(hooks[0]), (None if indices[0] < 0 else int(indices[0]))

    def addresses(self, level: str, layers: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hook names and indices of many components at once (index -1 = none, for layers).

        Parameters
        ----------
        level : "layer", "head" or "neuron"
        layers, indices : int arrays of one shape (the components table's ``layer`` and ``index``)
        """
        layers = np.asarray(layers, dtype=np.int64)
        indices = np.asarray(indices, dtype=np.int64)
        if level == "layer":
            return _format(TL_HOOKS["layer"], layer=layers), np.full(layers.shape, -1, dtype=np.int64)
        if level == "head" or (level == "neuron" and not self.n_experts):
            if (indices < 0).any():
                raise ValueError(f"{level} components need an index >= 0")
            return _format(TL_HOOKS[level], layer=layers), indices
        if level != "neuron":
            raise ValueError(f"`level` must be 'layer', 'head' or 'neuron', got {level!r}")
        expert, unit = np.divmod(indices, self.units_per_expert)
        if (indices < 0).any() or (expert >= self.n_experts).any():
            raise ValueError(f"neuron indices must lie in [0, {self.n_experts * self.units_per_expert})")
        return _format(TL_HOOKS["expert"], layer=layers, expert=expert), unit

    def of_name(self, name: str) -> dict[str, Any]:
        """``{"hook", "index"}`` of a component name such as ``"L2H5"`` (index None for a layer)."""
        level, layer, index = parse_component(name)
        hook, tl_index = self.address(level, layer, index)
        return {"hook": hook, "index": tl_index}


def _format(template: str, **arrays: np.ndarray) -> np.ndarray:
    # Few distinct names (layers x experts): format each once, then index.
    keys = np.stack([np.asarray(a).ravel() for a in arrays.values()], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    names = np.array([template.format(**dict(zip(arrays, map(int, row)))) for row in unique], dtype=object)
    return names[np.asarray(inverse).ravel()].reshape(np.shape(next(iter(arrays.values()))))


def naming_for_config(config: Any) -> TLNaming:
    """The `TLNaming` of a HF config: a mixture of experts when it declares experts
    (``num_local_experts`` as Mixtral, or ``num_experts``), with ``moe_intermediate_size`` or
    else ``intermediate_size`` units each.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> naming_for_config(SimpleNamespace(num_local_experts=4, intermediate_size=16))
    TLNaming(n_experts=4, units_per_expert=16)
    """
    for name in ("num_local_experts", "num_experts"):
        experts = getattr(config, name, None)
        if isinstance(experts, int) and experts > 0:
            units = getattr(config, "moe_intermediate_size", None) or getattr(config, "intermediate_size", None)
            return TLNaming(experts, int(units) if units else None)
    return TLNaming()


def naming_for_layout(layout: Any) -> TLNaming:
    """The `TLNaming` of a loaded model's layout (sizes read from its modules)."""
    if layout.n_experts:
        return TLNaming(layout.n_experts, layout.d_mlp // layout.n_experts)
    return TLNaming()
