"""Iris classification with XGBoost, distributed over the TrainJob's nodes.

Kubeflow Trainer's xgboost runtime sets DMLC_TRACKER_URI and DMLC_TRACKER_PORT (node 0),
DMLC_TASK_ID and DMLC_NUM_WORKER: node 0 runs the tracker, and every node trains on its shard
in one communicator. Hyperparameters arrive as command-line flags (--eta=0.3); metrics are
printed as name=value lines, which Katib's StdOut metrics collector reads. Node 0 saves the
booster under TRAINED_MODEL_UPLOAD_PATH (an s3:// URI) when it is set, as model.bst: what
KServe's XGBoost server loads.
"""
import argparse
import contextlib
import os
import tempfile

import xgboost as xgb
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--eta", type=float, default=0.3, help="learning rate")
    p.add_argument("--max-depth", type=int, default=4)
    p.add_argument("--rounds", type=int, default=20)
    return p.parse_args()


def upload(path, uri):
    import boto3  # installed from requirements.txt

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT") or None).upload_file(
        path, bucket, key.rstrip("/") + "/" + os.path.basename(path))


def start_tracker(workers, port):
    """Node 0's tracker, which the nodes meet at (DMLC_TRACKER_URI names node 0)."""
    tracker = xgb.tracker.RabitTracker(host_ip="0.0.0.0", n_workers=workers, port=port)
    try:
        tracker.start()
    except TypeError:  # XGBoost 1.7 (Debian's) takes the worker count here
        tracker.start(workers)
    return tracker


def main():
    args = parse_args()
    workers = int(os.environ.get("DMLC_NUM_WORKER", "1"))
    task = int(os.environ.get("DMLC_TASK_ID", "0"))
    tracker = None
    if workers > 1 and task == 0:
        tracker = start_tracker(workers, int(os.environ["DMLC_TRACKER_PORT"]))
    communicator = {}
    if workers > 1:
        communicator = {"dmlc_tracker_uri": os.environ["DMLC_TRACKER_URI"], "dmlc_tracker_port": int(os.environ["DMLC_TRACKER_PORT"]),
                        "dmlc_task_id": str(task)}

    x, y = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0)
    shard = slice(task, None, workers)
    train = xgb.DMatrix(x_train[shard], label=y_train[shard])
    test = xgb.DMatrix(x_test, label=y_test)
    params = {"objective": "multi:softmax", "num_class": 3, "eta": args.eta, "max_depth": args.max_depth}
    # Alone, it trains without a communicator (one would look for the tracker of
    # DMLC_TRACKER_URI, which only a node 0 among several runs).
    together = xgb.collective.CommunicatorContext(**communicator) if workers > 1 else contextlib.nullcontext()
    with together:
        booster = xgb.train(params, train, num_boost_round=args.rounds)
    accuracy = float((booster.predict(test) == y_test).mean())
    print(f"accuracy={accuracy:.4f}")
    if tracker is not None:
        # XGBoost 2 and later wait for the workers with wait_for(), 1.7 with join().
        (getattr(tracker, "wait_for", None) or tracker.join)()

    target = os.environ.get("TRAINED_MODEL_UPLOAD_PATH")
    if target and task == 0:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.bst")
            booster.save_model(path)
            upload(path, target)
        print(f"saved the model to {target}")


if __name__ == "__main__":
    main()
