"""The adapter family: `adapter`, `pfeiffer-adapter`, `adapterdrop`,
`adapter-lowrank`, `phm-adapter`, `compacter`, `compacter++`.

All place a `BottleneckAdapter` after some sublayers of every encoder and
decoder block (never cross-attention), and also train every T5 layer norm.
They differ in placement, in the adapters' projections, and in how many of
the lowest blocks go without adapters.
"""

import dataclasses

from keras_compacter.layers import BottleneckAdapter, SharedPHMRule
from keras_compacter.methods.base import MethodConfig, Trained

PLACEMENTS = ("self_attention", "feed_forward")


@dataclasses.dataclass
class AdapterConfig(MethodConfig):
    """Bottleneck adapters after the chosen sublayers of each block.

    Args:
        placement: sublayers followed by an adapter, from
            `("self_attention", "feed_forward")`.
        reduction_factor: `m = d_model // reduction_factor` (32).
        bottleneck_dim: `m`, overrides `reduction_factor`.
        projection: `"dense"`, `"phm"` or `"low_rank"`.
        phm_dim: `n` of PHM projections.
        phm_rank: `None` (full-rank `B_i`) or `r` (LPHM).
        shared_rule: one `A` for every PHM layer of the model.
        low_rank: rank of `"low_rank"` projections.
        dropped_layers: blocks without adapters, from the bottom of each
            stack (AdapterDrop).
        train_layer_norms: also train every T5 layer norm (the paper's
            setting for all adapter methods).
        learning_rate: the paper's learning rate for this method.
    """

    placement: tuple = ("self_attention", "feed_forward")
    reduction_factor: int = 32
    bottleneck_dim: int | None = None
    projection: str = "dense"
    phm_dim: int = 4
    phm_rank: int | None = None
    shared_rule: bool = False
    low_rank: int = 1
    dropped_layers: int = 0
    train_layer_norms: bool = True
    learning_rate: float = 3e-4

    name = "adapter"
    description = "Houlsby adapters after self-attention and feed-forward."

    def __post_init__(self):
        self.placement = tuple(self.placement)

    def validate(self, wiring):
        bad = [p for p in self.placement if p not in PLACEMENTS]
        if bad or not self.placement:
            raise ValueError(
                f"Invalid adapter placement {list(self.placement)}; choose one "
                f"or both of {list(PLACEMENTS)} (adapters never go in "
                "cross-attention)."
            )
        if not 0 <= self.dropped_layers < wiring.num_layers:
            raise ValueError(
                f"dropped_layers={self.dropped_layers}, but each stack has "
                f"{wiring.num_layers} layers: drop between 0 and "
                f"{wiring.num_layers - 1} so that some adapters remain."
            )
        d = wiring.hidden_dim
        m = self._adapter(d).resolve_bottleneck_dim(d)
        if self.projection == "phm":
            n = self.phm_dim
            bad = [
                f"{what} {size}"
                for what, size in (("hidden size", d), ("bottleneck size", m))
                if n < 1 or size % n
            ]
            if bad:
                raise ValueError(
                    f"phm_dim={n} must divide the hidden size ({d}) and the "
                    f"bottleneck size ({m}); it does not divide "
                    f"{' and '.join(bad)}. Pick a phm_dim that divides both, or "
                    "change reduction_factor / bottleneck_dim."
                )
        if self.phm_rank is not None and int(self.phm_rank) < 1:
            raise ValueError(f"phm_rank must be None or >= 1, got {self.phm_rank}.")
        if self.low_rank < 1:
            raise ValueError(f"low_rank must be >= 1, got {self.low_rank}.")

    def _adapter(self, hidden_dim, shared_rule=None, name=None):
        return BottleneckAdapter(
            reduction_factor=self.reduction_factor,
            bottleneck_dim=self.bottleneck_dim,
            projection=self.projection,
            phm_dim=self.phm_dim,
            phm_rank=self.phm_rank,
            shared_rule=shared_rule,
            low_rank=self.low_rank,
            name=name,
        )

    def apply(self, wiring):
        d = wiring.hidden_dim
        trained = []
        rule = None
        if self.projection == "phm" and self.shared_rule:
            rule = SharedPHMRule(self.phm_dim, name="shared_phm_rule")
            trained.append(Trained("adapters", "shared_phm_rule", rule.rule))
        for block in wiring.blocks():
            if block.index < self.dropped_layers:
                continue
            for site in self.placement:
                adapter = self._adapter(
                    d,
                    shared_rule=rule,
                    name=f"{block.stack}_{block.index}_{site}_adapter",
                )
                adapter.build((None, None, d))
                wiring.add_after_sublayer(block, site, adapter)
                for part in ("down", "up"):
                    for variable in getattr(adapter, part).weights:
                        if rule is not None and variable is rule.rule:
                            continue
                        key = f"{block.key}/{site}/adapter/{part}/{variable.name}"
                        trained.append(Trained("adapters", key, variable))
        if self.train_layer_norms:
            for key, norm in wiring.layer_norms():
                for variable in norm.weights:
                    variable.trainable = True
                    trained.append(
                        Trained("layer norms", f"{key}/{variable.name}", variable)
                    )
        return trained


@dataclasses.dataclass
class PfeifferAdapterConfig(AdapterConfig):
    placement: tuple = ("self_attention",)

    name = "pfeiffer-adapter"
    description = "One adapter per block, after self-attention (Pfeiffer et al.)."


@dataclasses.dataclass
class AdapterDropConfig(AdapterConfig):
    dropped_layers: int = 5

    name = "adapterdrop"
    description = "Houlsby adapters, none in the lowest 5 blocks of each stack."


@dataclasses.dataclass
class AdapterLowRankConfig(AdapterConfig):
    projection: str = "low_rank"
    low_rank: int = 1
    learning_rate: float = 3e-3

    name = "adapter-lowrank"
    description = "Adapters whose projections are rank-1 matrices u v^T."


@dataclasses.dataclass
class PHMAdapterConfig(AdapterConfig):
    projection: str = "phm"
    phm_dim: int = 12
    phm_rank: int | None = None
    shared_rule: bool = False
    learning_rate: float = 3e-3

    name = "phm-adapter"
    description = "Adapters whose projections are PHM layers (n=12, own rule)."


@dataclasses.dataclass
class CompacterConfig(AdapterConfig):
    projection: str = "phm"
    phm_dim: int = 4
    phm_rank: int | None = 1
    shared_rule: bool = True
    learning_rate: float = 3e-3

    name = "compacter"
    description = "LPHM adapters (n=4, r=1), one rule shared model-wide."


@dataclasses.dataclass
class CompacterPlusPlusConfig(CompacterConfig):
    placement: tuple = ("feed_forward",)

    name = "compacter++"
    description = "Compacter with one adapter per block, after the feed-forward."
