"""The local cluster's model server: KServe's V1 protocol for a scikit-learn or XGBoost model.

It stands in for KServe's sklearn and XGBoost servers (the kserve Python package is not among
Debian's packages, and no image comes from outside this machine) and takes their arguments from
the kserve-sklearnserver and kserve-xgbserver runtimes: --model_name, --model_dir (where the
storage initializer put the model), --http_port and --nthread. It loads the one model file the
servers load (model.joblib, .pkl or .pickle with joblib; model.bst, .json or .ubj with XGBoost)
and answers GET /v1/models/NAME (readiness) and POST /v1/models/NAME:predict with
{"instances": [[...], ...]} as {"predictions": [...]}.
"""
import argparse
import glob
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model_name", required=True)
    p.add_argument("--model_dir", default="/mnt/models")
    p.add_argument("--http_port", type=int, default=8080)
    p.add_argument("--nthread", type=int, default=1)
    args, _ = p.parse_known_args()
    return args


def model_file(model_dir, exts):
    files = [f for ext in exts for f in glob.glob(os.path.join(model_dir, "*." + ext))]
    return files[0] if len(files) == 1 else None


def load(model_dir, nthread):
    """A predict function for the model found in model_dir."""
    path = model_file(model_dir, ("joblib", "pkl", "pickle"))
    if path:
        import joblib

        model = joblib.load(path)
        return lambda instances: model.predict(instances).tolist()
    path = model_file(model_dir, ("bst", "json", "ubj"))
    if path:
        import numpy
        import xgboost

        booster = xgboost.Booster(params={"nthread": nthread}, model_file=path)
        return lambda instances: booster.predict(xgboost.DMatrix(numpy.array(instances, dtype=float))).tolist()
    sys.exit(f"modelserver: want one model file in {model_dir} (model.joblib, .pkl, .pickle, or model.bst, .json, .ubj), found {os.listdir(model_dir)}")


def handler(name, predict):
    path = f"/v1/models/{name}"

    class Handler(BaseHTTPRequestHandler):
        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            """The request's body, of a Content-Length or chunked (as the API server's proxy sends it)."""
            if "chunked" not in self.headers.get("Transfer-Encoding", ""):
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))
            data = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers, then the empty line
                pass
            return data

        def do_GET(self):
            if self.path == path:
                return self.reply(200, {"name": name, "ready": True})
            if self.path in ("/", "/v1/models"):
                return self.reply(200, {"models": [name]})
            self.reply(404, {"error": f"no model at {self.path}; the model is at {path}"})

        def do_POST(self):
            if self.path != path + ":predict":
                return self.reply(404, {"error": f"POST {path}:predict"})
            try:
                body = json.loads(self.body())
                predictions = predict(body["instances"])
            except Exception as e:  # the request's fault: say what was wrong
                return self.reply(400, {"error": f"{type(e).__name__}: {e}"})
            self.reply(200, {"predictions": predictions})

        def log_message(self, fmt, *args):
            print(fmt % args, file=sys.stderr)

    return Handler


def main():
    # As a container's first process, it would ignore SIGTERM: a pod would take its whole
    # grace period to stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    args = parse_args()
    predict = load(args.model_dir, args.nthread)
    print(f"serving {args.model_name} from {args.model_dir} on :{args.http_port}", flush=True)
    ThreadingHTTPServer(("", args.http_port), handler(args.model_name, predict)).serve_forever()


if __name__ == "__main__":
    main()
