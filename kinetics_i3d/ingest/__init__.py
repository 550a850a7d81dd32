"""Video ingest: decode, resample, resize, TV-L1 flow, MediaSequence TFRecords.

Modules (import the one you need; nothing is imported here):
  video      the one decoder (PyAV): timed, upright frames streamed from any file FFmpeg reads,
             resampled to a frame rate by timestamps, short side resized (`decode_frames`,
             `VideoFrames`, `read_video`, `VideoDecodeError`).
  flow       forward TV-L1 flow, OpenCV reference or the TensorFlow solver (`compute_flow`).
  tvl1_tf    the batched TensorFlow TV-L1 solver (`tvl1_flow`).
  sequence   one clip <-> `tf.train.SequenceExample` with MediaSequence keys
             (`make_sequence_example`, `parse_sequence_example`).
  manifests  Kinetics CSV, UCF-101, HMDB-51 and class-folder manifests (`load_manifest`).
  shards     sharded, parallel, resumable build, splittable across machines (`build_dataset`).
"""
