"""I3D on CPU: this project's TensorFlow model against a PyTorch I3D of the same architecture.

The PyTorch side is the architecture of piergiaj/pytorch-i3d (the common PyTorch port of the
release), written here from the published layout, not copied: Inception-v1 inflated, `Unit3D` =
Conv3d (no bias) + BatchNorm3d (eps 1e-3) + ReLU, TF-"SAME" padding computed per input size,
max pools with the same padding, 2x7x7 average pool, 1x1x1 logits conv with bias, logits averaged
over time. Both run in this process, one after the other, with random weights (speed does not
depend on the values), on the same machine and thread counts:

  * forward (inference mode), [1, 64, 224, 224, 3]: TF `tf.function` vs torch `no_grad` eval;
  * one training step (forward, cross-entropy, backward, SGD-momentum update) per
    --train_shapes entry: batch 1 and 2 at 64x224^2 and the smoke run's 2 x 16x224^2;
  * the conv3d rate of I3D's largest layer (Conv3d_2c_3x3: 64 -> 192 channels, 3x3x3, on
    [1, 32, 56, 56, 64] for a 64x224^2 clip), in each framework: the machine's practical
    ceiling; the TF forward's rate over it is the "share of the conv3d ceiling".

FLOPs are 2 x multiply-adds of the convolutions, counted on the PyTorch model (the same layers
and shapes). torch is not a project dependency: `pip install torch --index-url
https://download.pytorch.org/whl/cpu` to run this. Prints a table and writes JSON.

  python tools/benchmark_vs_pytorch.py --output_json=/tmp/vs_pytorch.json
"""
import json
import os
import time

from kinetics_i3d import cli  # first: TF env defaults (kinetics_i3d/__init__.py) before TF loads

from absl import app, flags, logging
import numpy as np

FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 3, "Timed calls per row (after one untimed warm-up call).")
flags.DEFINE_list("train_shapes", ["1x64", "2x64", "2x16"],
                  "Training-step rows as BATCHxFRAMES (64 frames: the paper; 2x16: "
                  "flags/smoke.cfg).")
flags.DEFINE_integer("forward_frames", 64, "Clip length of the forward rows.")
flags.DEFINE_integer("size", 224, "Frame height and width.")
flags.DEFINE_integer("num_classes", 400, "Logits.")
flags.DEFINE_bool("skip_train", False, "Only the forward and conv3d rows.")
flags.DEFINE_string("output_json", None, "Write the results here.")

# (name, branch widths [1x1, 3x3 reduce, 3x3, 3x3 reduce, 3x3, pool proj]) of Fig. 3's modules,
# with the max pools between them: ("pool", kernel, stride).
_LAYOUT = (
    ("pool", (1, 3, 3), (1, 2, 2)), ("conv", "Conv3d_2b_1x1", 64, 1, 1),
    ("conv", "Conv3d_2c_3x3", 192, 3, 1), ("pool", (1, 3, 3), (1, 2, 2)),
    ("mixed", "Mixed_3b", (64, 96, 128, 16, 32, 32)),
    ("mixed", "Mixed_3c", (128, 128, 192, 32, 96, 64)), ("pool", (3, 3, 3), (2, 2, 2)),
    ("mixed", "Mixed_4b", (192, 96, 208, 16, 48, 64)),
    ("mixed", "Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("mixed", "Mixed_4d", (128, 128, 256, 24, 64, 64)),
    ("mixed", "Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("mixed", "Mixed_4f", (256, 160, 320, 32, 128, 128)), ("pool", (2, 2, 2), (2, 2, 2)),
    ("mixed", "Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("mixed", "Mixed_5c", (384, 192, 384, 48, 128, 128)),
)


def _torch_i3d(num_classes: int):
    """A PyTorch I3D with pytorch-i3d's architecture (input [B, C, T, H, W])."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
        total = max(kernel - (size % stride or stride), 0)  # TF "SAME"
        return total // 2, total - total // 2

    def pad_same(x, kernel, stride, value=0.0):
        pads = []
        for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):
            pads.extend(same_pad(size, k, s))
        return F.pad(x, pads, value=value)

    class Unit3D(nn.Module):
        def __init__(self, cin, cout, kernel=1, stride=1, bn_relu=True):
            super().__init__()
            self.kernel, self.stride = (kernel,) * 3, (stride,) * 3
            self.conv = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=not bn_relu)
            self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01) if bn_relu else None

        def forward(self, x):
            x = self.conv(pad_same(x, self.kernel, self.stride))
            return F.relu(self.bn(x)) if self.bn is not None else x

    class MaxPoolSame(nn.Module):
        def __init__(self, kernel, stride):
            super().__init__()
            self.kernel, self.stride = kernel, stride
            self.pool = nn.MaxPool3d(kernel, stride)

        def forward(self, x):  # the release pads max pools with zeros after a ReLU
            return self.pool(pad_same(x, self.kernel, self.stride))

    class Mixed(nn.Module):
        def __init__(self, cin, widths):
            super().__init__()
            b0, b1a, b1b, b2a, b2b, b3 = widths
            self.b0 = Unit3D(cin, b0)
            self.b1 = nn.Sequential(Unit3D(cin, b1a), Unit3D(b1a, b1b, 3))
            self.b2 = nn.Sequential(Unit3D(cin, b2a), Unit3D(b2a, b2b, 3))
            self.b3 = nn.Sequential(MaxPoolSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, b3))
            self.out_channels = b0 + b1b + b2b + b3

        def forward(self, x):
            return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], dim=1)

    class I3D(nn.Module):
        def __init__(self):
            super().__init__()
            layers, channels = [Unit3D(3, 64, 7, 2)], 64
            for entry in _LAYOUT:
                if entry[0] == "pool":
                    layers.append(MaxPoolSame(entry[1], entry[2]))
                elif entry[0] == "conv":
                    layers.append(Unit3D(channels, entry[2], entry[3], entry[4]))
                    channels = entry[2]
                else:
                    layers.append(Mixed(channels, entry[2]))
                    channels = layers[-1].out_channels
            self.features = nn.Sequential(*layers)
            self.dropout = nn.Dropout(0.5)
            self.logits = Unit3D(channels, num_classes, bn_relu=False)

        def forward(self, x):
            x = F.avg_pool3d(self.features(x), (2, 7, 7), stride=1)
            x = self.logits(self.dropout(x))
            return x.mean(dim=(2, 3, 4))  # [B, classes], averaged over time

    return I3D()


def _conv_flops(model, shape) -> float:
    """2 x multiply-adds of every Conv3d for one forward pass on `shape` ([B, C, T, H, W])."""
    import torch

    total = [0.0]

    def hook(module, _inputs, output):
        per_output = module.in_channels // module.groups * np.prod(module.kernel_size)
        total[0] += 2.0 * per_output * output.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, torch.nn.Conv3d)]
    with torch.no_grad():
        model.eval()(torch.zeros(shape))
    for handle in handles:
        handle.remove()
    return total[0]


def _timed_row(framework: str, what: str, fn, batch: int, frames: int) -> dict:
    """One table row: `fn`'s first-call seconds, then the median wall seconds and median process
    CPU seconds of `--repeats` further calls. CPU seconds (all threads) are less inflated than
    wall time when other jobs share the cores."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times, cpu = [], []
    for _ in range(FLAGS.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"framework": framework, "what": what, "batch": batch, "frames": frames,
            "first_s": first, "seconds": float(np.median(times)),
            "cpu_seconds": float(np.median(cpu))}


def _tf_rows(shapes) -> list[dict]:
    import keras
    import tensorflow as tf

    from kinetics_i3d.models import InceptionI3d
    from kinetics_i3d.train import TrainConfig, Trainer
    from kinetics_i3d.train.inputs import synthetic_dataset_fn

    rows = []
    size = FLAGS.size
    model = InceptionI3d(num_classes=FLAGS.num_classes, modality="rgb")
    x = tf.random.uniform([1, FLAGS.forward_frames, size, size, 3], -1, 1)
    forward = tf.function(lambda v: model(v, training=False))
    rows.append(_timed_row("tensorflow", "forward", lambda: forward(x).numpy(), 1,
                           FLAGS.forward_frames))
    weights = tf.random.normal([3, 3, 3, 64, 192], stddev=0.05)
    feature = tf.random.uniform([1, FLAGS.forward_frames // 2, size // 4, size // 4, 64])
    conv = tf.function(lambda v: tf.nn.conv3d(v, weights, [1] * 5, "SAME"))
    rows.append(_timed_row("tensorflow", "conv3d Conv3d_2c_3x3", lambda: conv(feature).numpy(),
                           1, FLAGS.forward_frames))
    for batch, frames in shapes:
        config = TrainConfig(model="i3d", modality="rgb", train_pattern="synthetic",
                             num_classes=FLAGS.num_classes, num_frames=frames,
                             crop_size=size, batch_size_per_replica=batch,
                             model_dir="/nonexistent-unused", lr_schedule="steps",
                             lr_values=(0.1,), eval_every=0)
        trainer = Trainer(config)
        iterator = iter(trainer.strategy.distribute_datasets_from_function(
            synthetic_dataset_fn(config, trainer.global_batch, 3)))
        rows.append(_timed_row("tensorflow", "train step", lambda: trainer.train_step(iterator),
                               batch, frames))
        logging.info("TF train step %dx%d batch %d: %.2f s", frames, size, batch,
                     rows[-1]["seconds"])
        keras.backend.clear_session()
    return rows


def _torch_rows(shapes) -> list[dict]:
    import torch

    rows = []
    size = FLAGS.size
    torch.manual_seed(0)
    model = _torch_i3d(FLAGS.num_classes)
    x = torch.rand(1, 3, FLAGS.forward_frames, size, size) * 2 - 1
    model.eval()
    rows.append(_timed_row("pytorch", "forward", torch.no_grad()(lambda: model(x)), 1,
                           FLAGS.forward_frames))
    conv = torch.nn.Conv3d(64, 192, 3, padding=1, bias=False)
    feature = torch.rand(1, 64, FLAGS.forward_frames // 2, size // 4, size // 4)
    rows.append(_timed_row("pytorch", "conv3d Conv3d_2c_3x3",
                           torch.no_grad()(lambda: conv(feature)), 1, FLAGS.forward_frames))
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-7)
    for batch, frames in shapes:
        clip = torch.rand(batch, 3, frames, size, size) * 2 - 1
        labels = torch.randint(0, FLAGS.num_classes, (batch,))

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(clip), labels)
            loss.backward()
            optimizer.step()

        rows.append(_timed_row("pytorch", "train step", step, batch, frames))
        logging.info("torch train step %dx%d batch %d: %.2f s", frames, size, batch,
                     rows[-1]["seconds"])
    return rows


def main(argv):
    del argv
    try:
        import torch
    except ImportError:
        raise app.UsageError("torch is not installed: pip install torch --index-url "
                             "https://download.pytorch.org/whl/cpu")
    from kinetics_i3d import machine

    size = FLAGS.size
    try:
        shapes = [] if FLAGS.skip_train else [
            tuple(int(v) for v in shape.split("x")) for shape in FLAGS.train_shapes]
    except ValueError:
        raise app.UsageError(f"--train_shapes: expected BATCHxFRAMES entries such as 2x16, got "
                             f"{FLAGS.train_shapes}")
    flops = _conv_flops(_torch_i3d(FLAGS.num_classes), (1, 3, FLAGS.forward_frames, size, size))
    conv_flops = 2.0 * 27 * 64 * 192 * (FLAGS.forward_frames // 2) * (size // 4) ** 2
    logging.info("TensorFlow rows")
    rows = _tf_rows(shapes)
    logging.info("PyTorch rows")
    rows += _torch_rows(shapes)
    for row in rows:
        if row["what"] == "forward":
            row["gflops_per_s"] = flops / row["seconds"] / 1e9
        elif row["what"].startswith("conv3d"):
            row["gflops_per_s"] = conv_flops / row["seconds"] / 1e9
    info = machine.machine_info()
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    info["torch_mkldnn"] = torch.backends.mkldnn.is_available()
    by = {(r["framework"], r["what"], r["batch"], r["frames"]): r for r in rows}
    summary = {}
    tf_fwd = by[("tensorflow", "forward", 1, FLAGS.forward_frames)]
    pt_fwd = by[("pytorch", "forward", 1, FLAGS.forward_frames)]
    tf_conv = by[("tensorflow", "conv3d Conv3d_2c_3x3", 1, FLAGS.forward_frames)]
    summary["forward_speedup_tf_over_torch"] = pt_fwd["seconds"] / tf_fwd["seconds"]
    summary["tf_forward_share_of_tf_conv3d_rate"] = (tf_fwd["gflops_per_s"]
                                                     / tf_conv["gflops_per_s"])
    for row in rows:
        if row["framework"] == "tensorflow":
            other = by.get(("pytorch", row["what"], row["batch"], row["frames"]))
            row["speedup_over_pytorch"] = other["seconds"] / row["seconds"] if other else None

    print(f"I3D RGB on CPU, TensorFlow {info['tensorflow']} vs PyTorch {torch.__version__} "
          f"(pytorch-i3d architecture), {size}x{size}, median of {FLAGS.repeats} calls")
    print(f"machine: {machine.describe(info)}; torch threads {info['torch_threads']}")
    print(f"forward FLOPs {flops / 1e9:.1f} G ({FLAGS.forward_frames} frames), conv3d "
          f"Conv3d_2c_3x3 {conv_flops / 1e9:.1f} G")
    print(f"{'what':<22}{'batch':>6}{'frames':>7}{'TF s':>9}{'torch s':>9}{'TF/torch':>9}"
          f"{'TF cpu s':>9}{'torch cpu s':>12}{'TF GFLOP/s':>11}{'torch GFLOP/s':>14}")
    for row in rows:
        if row["framework"] != "tensorflow":
            continue
        other = by.get(("pytorch", row["what"], row["batch"], row["frames"]))
        nan = float("nan")
        rate = f"{row['gflops_per_s']:.0f}" if "gflops_per_s" in row else "-"
        other_rate = f"{other['gflops_per_s']:.0f}" if other and "gflops_per_s" in other else "-"
        print(f"{row['what']:<22}{row['batch']:>6}{row['frames']:>7}{row['seconds']:>9.3f}"
              f"{other['seconds'] if other else nan:>9.3f}"
              f"{row['speedup_over_pytorch'] or nan:>8.2f}x{row['cpu_seconds']:>9.2f}"
              f"{other['cpu_seconds'] if other else nan:>12.2f}{rate:>11}{other_rate:>14}")
    print(f"TF forward speed-up over PyTorch: {summary['forward_speedup_tf_over_torch']:.2f}x "
          f"(goal >= 2.0x); TF forward at {summary['tf_forward_share_of_tf_conv3d_rate']:.0%} "
          "of TF's Conv3d_2c_3x3 rate (goal >= 85%)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work inflates the times)")
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as f:
            json.dump({"machine": info, "load_avg_end": list(os.getloadavg()),
                       "forward_flops": flops, "conv3d_flops": conv_flops, "size": size,
                       "rows": rows, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    cli.run(main)
