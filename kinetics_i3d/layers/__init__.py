"""Building blocks shared by I3D, the 2D Inception-v1 and the baselines."""
from kinetics_i3d.layers.inception import (
    inception_v1_backbone,
    INCEPTION_V1_MIXED,
    InceptionModule,
    Unit,
    pool_layer,
)

__all__ = ["inception_v1_backbone", "INCEPTION_V1_MIXED", "InceptionModule", "Unit", "pool_layer"]
