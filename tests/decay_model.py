"""The tiny model the weight-decay tests share (tests/test_train_loop.py, and the mirrored
subprocess of tests/test_train_strategy.py, which puts tests/ on its path to import it)."""
import keras
import numpy as np


def decay_model(config):
    """Conv (kernel, bias), BatchNorm (gamma, beta), LSTM (kernel, recurrent_kernel, bias),
    classifier (kernel, bias): every kind of weight the decay rule must tell apart. Input
    `[B, 4, 8, 8, 3]`; `config.num_classes` outputs."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((4, 8, 8, 3)),
        keras.layers.Conv3D(4, 3, padding="same", name="conv"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.TimeDistributed(keras.layers.GlobalAveragePooling2D(), name="pool"),
        keras.layers.LSTM(3, name="lstm"),
        keras.layers.Dense(config.num_classes, name="classifier"),
    ], name="tiny")
    rng = np.random.default_rng(1)  # biases and BN offsets away from 0, where decay would show
    for w in model.trainable_weights:
        if not w.path.endswith("kernel"):
            w.assign(w.numpy() + rng.uniform(0.1, 0.5, w.shape).astype(np.float32))
    return model
