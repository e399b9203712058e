"""A starting point for a model's training code, written by kubectl kaptain init.

Replace the toy training in train() with the model's own. What kaptain gives this file, in the
cluster and with --local alike:
- the hyperparameters as --name=value arguments: kaptain.yaml's hyperparameters, -p, or a
  tune trial's values;
- TRAINED_MODEL_UPLOAD_PATH, where to save the trained model (an s3:// URI in the cluster, a
  directory with train --local), and MODEL_LIFECYCLE_PHASE (training or tuning);
- its place among the replicas: RANK and WORLD_SIZE (pytorch), TF_CONFIG (tensorflow),
  JAX_PROCESS_ID (jax), DMLC_TASK_ID (xgboost), OMPI_COMM_WORLD_RANK (mpirun).
Metrics are printed as name=value lines: tune reads its objective from them.
It needs nothing beyond the Python standard library (boto3 only to upload to S3).
"""
import argparse
import json
import os
import random
import sys


def parse_args():
    p = argparse.ArgumentParser(description="Fits y = 3x + 1 by gradient descent.")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate")
    p.add_argument("--epochs", type=int, default=5)
    return p.parse_args()


def rank():
    """This replica's index among the job's replicas, 0 alone."""
    for name in ("RANK", "JAX_PROCESS_ID", "DMLC_TASK_ID", "OMPI_COMM_WORLD_RANK"):
        if os.environ.get(name):
            return int(os.environ[name])
    if os.environ.get("TF_CONFIG"):
        return int(json.loads(os.environ["TF_CONFIG"]).get("task", {}).get("index", 0))
    return 0


def train(args):
    """A toy model: w and b of y = w*x + b, learnt from noisy samples."""
    rng = random.Random(rank())
    data = [(x, 3 * x + 1 + rng.gauss(0, 0.05)) for x in (i / 100 for i in range(100))]
    w = b = 0.0
    for epoch in range(1, args.epochs + 1):
        for _ in range(20):
            gw = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
            gb = sum(2 * (w * x + b - y) for x, y in data) / len(data)
            w, b = w - args.lr * gw, b - args.lr * gb
        loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
        print(f"epoch={epoch} loss={loss:.6f} accuracy={1 / (1 + loss):.6f}")
    return {"w": w, "b": b}


def save(model, where):
    """Writes the model as model.json into a directory, or uploads it to an s3:// URI."""
    data = json.dumps(model).encode()
    if not where.startswith("s3://"):
        os.makedirs(where, exist_ok=True)
        with open(os.path.join(where, "model.json"), "wb") as f:
            f.write(data)
        return
    try:
        import boto3
    except ImportError:
        print(f"boto3 is not installed: the model was not uploaded to {where}", file=sys.stderr)
        return
    bucket, _, key = where.removeprefix("s3://").partition("/")
    boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT") or None).put_object(
        Bucket=bucket, Key=key.rstrip("/") + "/model.json", Body=data)


def main():
    args = parse_args()
    model = train(args)
    where = os.environ.get("TRAINED_MODEL_UPLOAD_PATH")
    if where and rank() == 0:
        save(model, where)
        print(f"saved the model to {where}")


if __name__ == "__main__":
    main()
