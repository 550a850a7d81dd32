"""Video ingest: decode, resample, resize, TV-L1 flow, MediaSequence TFRecords."""
