"""A linear regression in JAX, data-parallel over the TrainJob's nodes.

Kubeflow Trainer's jax runtime sets JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
JAX_PROCESS_ID; each process fits its shard of the data and the gradients are averaged over
all of them. Hyperparameters arrive as command-line flags (--lr=0.1); metrics are printed as
name=value lines, which Katib's StdOut metrics collector reads. Process 0 saves the weights
under TRAINED_MODEL_UPLOAD_PATH (an s3:// URI) when it is set, as weights.npz.
"""
import argparse
import os
import tempfile

import jax
import jax.numpy as jnp
from jax.experimental import multihost_utils
import numpy as np


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lr", type=float, default=0.1, help="learning rate")
    p.add_argument("--steps", type=int, default=200)
    return p.parse_args()


def upload(path, uri):
    import boto3  # installed from requirements.txt

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT") or None).upload_file(
        path, bucket, key.rstrip("/") + "/" + os.path.basename(path))


def main():
    args = parse_args()
    processes = int(os.environ.get("JAX_NUM_PROCESSES", "1"))
    if processes > 1:
        jax.distributed.initialize(coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
                                   num_processes=processes, process_id=int(os.environ["JAX_PROCESS_ID"]))
    rank = jax.process_index()

    # y = 3x - 2 plus noise; each process its own shard.
    rng = np.random.default_rng(rank)
    x = rng.uniform(-1, 1, size=(1024, 1))
    y = 3 * x - 2 + rng.normal(0, 0.1, size=x.shape)
    w, b = jnp.zeros((1, 1)), jnp.zeros(())

    def loss(w, b):
        return jnp.mean((x @ w + b - y) ** 2)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    for step in range(1, args.steps + 1):
        gw, gb = grad(w, b)
        if processes > 1:  # average over every process's shard
            gw, gb = (multihost_utils.process_allgather(g).mean(0) for g in (gw, gb))
        w, b = w - args.lr * gw, b - args.lr * gb
        if step % 50 == 0:
            print(f"step={step}")
            print(f"loss={float(loss(w, b)):.4f}")
    print(f"mse={float(loss(w, b)):.4f}")

    target = os.environ.get("TRAINED_MODEL_UPLOAD_PATH")
    if target and rank == 0:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "weights.npz")
            np.savez(path, w=np.asarray(w), b=np.asarray(b))
            upload(path, target)
        print(f"saved the model to {target}")


if __name__ == "__main__":
    main()
