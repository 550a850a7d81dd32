"""Input pipeline: MediaSequence shards -> training clips and test videos for each model.

`make_dataset(patterns, interface, split, batch_size, ...)` (reader.py) is the entry point; the
per-model temporal interfaces of Table 1 live in `kinetics_i3d.specs` (each model's spec), the per-frame steps in
processors.py.
"""
from kinetics_i3d.specs import Sampling, TemporalInterface, get_interface
from kinetics_i3d.data.reader import list_shards, make_dataset, shards_for_worker, skipped_count

__all__ = ["Sampling", "TemporalInterface", "get_interface", "list_shards",
           "make_dataset", "shards_for_worker", "skipped_count"]
