"""Train a registered architecture on MediaSequence TFRecord shards (paper sec. 2.5).

Example (the embedded smoke run; paths in flags/*.cfg are relative to the repository root):
  python tools/build_tfrecords.py --flagfile=flags/smoke_ingest.cfg
  python tools/train.py --flagfile=flags/smoke.cfg

Multi-worker: run the same command on every worker with --strategy=multi_worker and TF_CONFIG set.
Rerunning a command with the same --model_dir resumes from its newest checkpoint.
"""
from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import app, flags
from absl import logging

from kinetics_i3d import filesystems
from kinetics_i3d.train import config as config_lib
from kinetics_i3d.train import flags as train_flags

train_flags.define_flags()
flags.adopt_module_key_flags(train_flags)  # --help lists them (they live in that module)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]} (flags need a leading --)")
    try:
        config = train_flags.config_from_flags()
        filesystems.ensure_filesystem([p for p in (config.train_pattern, config.val_pattern,
                                                   config.model_dir, config.init_checkpoint) if p])
        config_lib.validate(config)
    except ValueError as error:
        raise app.UsageError(str(error))
    # Heavy imports after the checks: a bad flag fails before any TensorFlow work.
    logging.info("flags checked; loading TensorFlow ...")
    from kinetics_i3d.train import inputs, loop, strategy as strategy_lib

    strategy = strategy_lib.make_strategy(config.strategy)
    import keras

    keras.utils.set_random_seed(config.seed)  # initial weights (broadcast from worker 0), dropout
    logging.info("building %s (%s, %d classes) and its optimizer ...", config.model,
                 config.modality, config.num_classes)
    try:
        trainer = loop.Trainer(config, strategy)
    except ValueError as error:
        raise app.UsageError(str(error))
    train_fn, val_fn = inputs.shards_dataset_fns(config, trainer.global_batch)
    summary = trainer.fit(train_fn, val_fn)
    if summary.get("already_complete"):
        print(f"{config.model_dir} is already at step {summary['final_step']} (--train_steps="
              f"{config.train_steps}): nothing to train; its summary is "
              f"{config.model_dir}/{loop.SUMMARY_JSON} (delete {config.model_dir} to start over)")
        return 0
    print(loop.format_summary(summary))
    return 0


if __name__ == "__main__":
    cli.run(main)
