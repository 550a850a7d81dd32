"""Building blocks shared by I3D, the 2D Inception-v1 and the baselines."""
from kinetics_i3d.layers.inception import (
    INCEPTION_V1_MIXED,
    InceptionModule,
    Unit,
    apply_trunk,
    build_trunk,
    inception_v1_backbone,
    pool_layer,
    trunk_named_units,
)

__all__ = [
    "INCEPTION_V1_MIXED",
    "InceptionModule",
    "Unit",
    "apply_trunk",
    "build_trunk",
    "inception_v1_backbone",
    "pool_layer",
    "trunk_named_units",
]
