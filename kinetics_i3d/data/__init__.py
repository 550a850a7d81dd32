"""Input pipeline: MediaSequence shards -> training clips and test videos for each model.

`make_dataset(patterns, interface, split, batch_size, ...)` (reader.py) is the entry point; the
per-model temporal interfaces of Table 1 live in interfaces.py, the per-frame steps in
processors.py.
"""
from kinetics_i3d.data.interfaces import INTERFACES, Sampling, TemporalInterface, get_interface
from kinetics_i3d.data.reader import list_shards, make_dataset, shards_for_worker, skipped_count

__all__ = ["INTERFACES", "Sampling", "TemporalInterface", "get_interface", "list_shards",
           "make_dataset", "shards_for_worker", "skipped_count"]
