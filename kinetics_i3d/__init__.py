"""kinetics-i3d: Two-Stream Inflated 3D ConvNets (Carreira & Zisserman, CVPR 2017) in TF2 / Keras 3."""
__version__ = "0.1.0"
