"""MNIST digit recognition with TensorFlow, trained with MultiWorkerMirroredStrategy.

Hyperparameters arrive as command-line flags (--lr=0.01); metrics are printed as name=value
lines, which Katib's StdOut metrics collector reads. The trained model is exported as a
SavedModel under TRAINED_MODEL_UPLOAD_PATH/1/ (an s3:// URI) when it is set: the numbered
version directory TensorFlow Serving, and so 'kubectl kaptain deploy', loads.
"""
import argparse
import os
import tempfile

import tensorflow as tf


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lr", type=float, default=0.01, help="learning rate")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64, help="per-replica batch size")
    p.add_argument("--momentum", type=float, default=0.9)
    return p.parse_args()


def dataset(batch_size):
    (x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
    prep = lambda x: (x / 255.0).astype("float32")[..., None]
    train = tf.data.Dataset.from_tensor_slices((prep(x_train), y_train)).shuffle(60000).batch(batch_size)
    test = tf.data.Dataset.from_tensor_slices((prep(x_test), y_test)).batch(batch_size)
    return train, test


def build_model(lr, momentum):
    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dense(10),
    ])
    model.compile(
        optimizer=tf.keras.optimizers.SGD(learning_rate=lr, momentum=momentum),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


class PrintMetrics(tf.keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        print(f"epoch={epoch + 1}")
        for name in ("loss", "accuracy"):
            if name in logs:
                print(f"{name}={logs[name]:.4f}")


def main():
    args = parse_args()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    train, test = dataset(args.batch_size * strategy.num_replicas_in_sync)
    with strategy.scope():
        model = build_model(args.lr, args.momentum)
    model.fit(train, epochs=args.epochs, callbacks=[PrintMetrics()], verbose=0)
    loss, accuracy = model.evaluate(test, verbose=0)
    print(f"test-loss={loss:.4f}")
    print(f"test-accuracy={accuracy:.4f}")

    upload = os.environ.get("TRAINED_MODEL_UPLOAD_PATH")
    if upload and strategy.cluster_resolver.task_id in (None, 0):
        with tempfile.TemporaryDirectory() as tmp:
            export = os.path.join(tmp, "1")
            model.export(export)  # a SavedModel: 1/saved_model.pb and 1/variables/
            for root, _, files in tf.io.gfile.walk(export):
                for name in files:
                    src = os.path.join(root, name)
                    dst = upload.rstrip("/") + "/1/" + os.path.relpath(src, export)
                    tf.io.gfile.makedirs(os.path.dirname(dst))
                    tf.io.gfile.copy(src, dst, overwrite=True)
        print(f"saved the model to {upload}/1")


if __name__ == "__main__":
    main()
