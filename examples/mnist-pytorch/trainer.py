"""MNIST digit recognition with PyTorch, trained with DistributedDataParallel.

torchrun (a TrainJob on torch-distributed) and the Kubeflow Training Operator (a PyTorchJob)
set MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK; mpirun (a TrainJob on deepspeed-distributed,
whose base image has DeepSpeed and mpi4py) sets OMPI_COMM_WORLD_SIZE and _RANK, from which
DeepSpeed finds the rest.
Hyperparameters arrive as command-line flags (--lr=0.01); metrics are printed as name=value
lines, which Katib's StdOut metrics collector reads. Rank 0 saves the trained model under
TRAINED_MODEL_UPLOAD_PATH (an s3:// URI) when it is set, as model.onnx: what KServe's ONNX
runtime (Triton, protocol v2) loads, as kaptain.yaml's spec.serving.modelFormat says.
"""
import argparse
import os
import tempfile

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from torchvision import datasets, transforms


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 32, 3)
        self.fc1 = nn.Linear(32 * 13 * 13, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lr", type=float, default=0.01, help="learning rate")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--momentum", type=float, default=0.5)
    return p.parse_args()


def upload(path, uri):
    import boto3  # installed from requirements.txt

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT") or None).upload_file(
        path, bucket, key.rstrip("/") + "/" + os.path.basename(path))


def init_distributed():
    """Joins the job's process group; False when this is the only process."""
    if int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
        import deepspeed  # the deepspeed runtime's image has it

        deepspeed.init_distributed(dist_backend="gloo", auto_mpi_discovery=True)
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group(backend="gloo")
        return True
    return False


def main():
    args = parse_args()
    distributed = init_distributed()
    rank = dist.get_rank() if distributed else 0

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST("/tmp/data", train=True, download=True, transform=tf)
    test_set = datasets.MNIST("/tmp/data", train=False, download=True, transform=tf)
    sampler = DistributedSampler(train_set) if distributed else None
    train = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, shuffle=sampler is None)
    test = DataLoader(test_set, batch_size=1000)

    model = Net()
    if distributed:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    for epoch in range(1, args.epochs + 1):
        if sampler:
            sampler.set_epoch(epoch)
        model.train()
        for x, y in train:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        print(f"epoch={epoch}")
        print(f"loss={loss.item():.4f}")

    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for x, y in test:
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    print(f"accuracy={correct / total:.4f}")

    target = os.environ.get("TRAINED_MODEL_UPLOAD_PATH")
    if target and rank == 0:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.onnx")
            # One image in, ten scores out; any batch size.
            torch.onnx.export(model.module if distributed else model, torch.zeros(1, 1, 28, 28), path,
                              input_names=["input"], output_names=["scores"],
                              dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}})
            upload(path, target)
        print(f"saved the model to {target}")


if __name__ == "__main__":
    main()
