#!/usr/bin/env bash
# Build benchmark: the local builder against crane append, in the same run, on a registry
# started on loopback: CNCF distribution v3 built with this machine's Go (hack/tools.sh registry),
# or Debian's docker-registry 2.8 with REGISTRY=debian (whose own CPU, about 5.5 s per GiB
# taken in, then dominates the 1 GiB case). A model directory with 50 MB of files
# (50 files of 1 MB of random bytes) is pushed as a new image each run by both tools; then the
# bytes kubectl-kaptain pushes for an unchanged rebuild and for a one-file change are shown.
# Then 1 GiB of incompressible weights (4 shards of 256 MiB, as a checkpoint is): both tools
# push it as a new image, against one pass of Go's crypto/sha256 over the same files (the hash
# floor), with each tool's peak memory (/usr/bin/time's maximum resident set size); then the
# bytes sent when one shard of the four changes. GIB_RUNS (default 3) sets that case's runs,
# GIB_RUNS=0 skips it (it needs about 3 GiB of disk under $TMPDIR).
#
#   hack/bench-build.sh [RUNS]     (default 5; needs bin/kubectl-kaptain: make build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=$PWD/bin/kubectl-kaptain
[ -x "$bin" ] || { echo "bench-build: build first (make build)" >&2; exit 1; }
crane=$(hack/crane.sh)
case ${REGISTRY:-distribution} in
debian) registry=$(hack/registry-server.sh) ;;
distribution) registry=$(hack/tools.sh registry) ;;
*) echo "bench-build: REGISTRY is distribution (default) or debian" >&2; exit 2 ;;
esac
export OTEL_SDK_DISABLED=true OTEL_TRACES_EXPORTER=none # distribution v3 exports nothing

tmp=$(mktemp -d)
port=20000
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((20000 + RANDOM % 40000)); done
host=127.0.0.1:$port
cat >"$tmp/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $tmp/data}}
http: {addr: $host}
YAML
"$registry" serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

model=$tmp/model
mkdir -p "$model/data"
for i in $(seq -w 1 50); do head -c 1000000 /dev/urandom >"$model/data/part-$i.bin"; done
echo "print('train')" >"$model/trainer.py"
write_yaml() { # DIR ID EXTRA IMAGE: a kaptain.yaml on scratch, the main file trainer.py
  cat >"$1/kaptain.yaml" <<YAML
apiVersion: kaptain.dev/v1alpha1
kind: Model
spec: {id: $2, name: bench, description: bench, version: "1", framework: tensorflow,
  frameworkVersion: "2.16.1", mainFile: trainer.py, extraFiles: [$3], image: "$4", baseImage: scratch}
YAML
}
write_model() { write_yaml "$model" bench/model data "$1"; } # IMAGE
export HOME=$tmp DOCKER_CONFIG=$tmp/docker

ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
kaptain_push() { write_model "$host/bench/kaptain-$1:1"; "$bin" build -f "$model/kaptain.yaml" --insecure-registry --force-build; }
# crane's side: the same files as one tar (crane append gzips it) on an empty base.
crane_push() { tar -C "$model" -cf "$tmp/layer.tar" trainer.py data && "$crane" append --insecure -f "$tmp/layer.tar" -t "$host/bench/crane-$1:1"; }

kaptain_push warm >/dev/null 2>&1; crane_push warm >/dev/null 2>&1
: >"$tmp/a"; : >"$tmp/b"
for i in $(seq "$runs"); do
  ms kaptain_push "$i" >>"$tmp/a"
  ms crane_push "$i" >>"$tmp/b"
done
a=$(median <"$tmp/a"); b=$(median <"$tmp/b")
printf 'push 50 MB model, new image   kubectl-kaptain build %6s ms   crane append (with tar) %6s ms   ratio %.2f   (%s runs, medians)\n' \
  "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')" "$runs"

write_model "$host/bench/rebuild:1"
"$bin" build -f "$model/kaptain.yaml" --insecure-registry 2>"$tmp/first" >/dev/null
"$bin" build -f "$model/kaptain.yaml" --insecure-registry 2>"$tmp/again" >/dev/null
echo "print('train, changed')" >"$model/trainer.py"
"$bin" build -f "$model/kaptain.yaml" --insecure-registry 2>"$tmp/changed" >/dev/null
printf 'first push:        %s\n' "$(grep -E 'pushed|up to date' "$tmp/first")"
printf 'unchanged rebuild: %s\n' "$(grep -E 'pushed|up to date' "$tmp/again")"
printf 'one file changed:  %s\n' "$(grep -E 'pushed|up to date' "$tmp/changed")"

gib_runs=${GIB_RUNS:-3}
[ "$gib_runs" -gt 0 ] || exit 0
go build -o "$tmp/sha256pass" ./hack/sha256pass
big=$tmp/big
mkdir -p "$big/weights"
for i in 1 2 3 4; do head -c $((256 << 20)) /dev/urandom >"$big/weights/shard-$i.bin"; done
echo "print('serve')" >"$big/trainer.py"
write_big() { write_yaml "$big" bench/big weights "$1"; } # IMAGE
# crane's side gets the tar ready-made (not timed): it then reads one file, as it would.
tar -C "$big" -cf "$tmp/big.tar" trainer.py weights
# Each run as weights this machine never pushed (an empty layer cache): they are hashed as they
# are pushed, one read of them.
big_kaptain() { write_big "$host/bench/big-kaptain-$1:1"; XDG_CACHE_HOME=$tmp/xdg-$1 "$bin" build -f "$big/kaptain.yaml" --force-build; }
big_crane() { "$crane" append --insecure -f "$tmp/big.tar" -t "$host/bench/big-crane-$1:1"; }
floor() { "$tmp/sha256pass" "$big"/weights/*.bin; }
peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; } # KiB, of the command's own process
floor >/dev/null # the files in the page cache, as for the others
: >"$tmp/ga"; : >"$tmp/gb"; : >"$tmp/gf"
for i in $(seq "$gib_runs"); do
  ms floor >>"$tmp/gf"
  ms big_kaptain "$i" >>"$tmp/ga"
  ms big_crane "$i" >>"$tmp/gb"
done
ga=$(median <"$tmp/ga"); gb=$(median <"$tmp/gb"); gf=$(median <"$tmp/gf")
write_big "$host/bench/big-kaptain-mem:1"
ka=$(XDG_CACHE_HOME=$tmp/xdg-mem peak "$bin" build -f "$big/kaptain.yaml" --force-build)
kb=$(peak "$crane" append --insecure -f "$tmp/big.tar" -t "$host/bench/big-crane-mem:1")
printf 'push 1 GiB of weights, new image   kubectl-kaptain build %6s ms   crane append %6s ms   ratio %.2f   sha256 pass %s ms   kaptain/floor %.2f   (%s runs, medians)\n' \
  "$ga" "$gb" "$(awk -v a="$ga" -v b="$gb" 'BEGIN {print a / b}')" "$gf" "$(awk -v a="$ga" -v b="$gf" 'BEGIN {print a / b}')" "$gib_runs"
printf 'peak memory (max RSS)   kubectl-kaptain build %s MiB   crane append %s MiB\n' \
  "$(awk -v k="$ka" 'BEGIN {printf "%.1f", k / 1024}')" "$(awk -v k="$kb" 'BEGIN {printf "%.1f", k / 1024}')"
write_big "$host/bench/big-shard:1"
"$bin" build -f "$big/kaptain.yaml" >/dev/null 2>&1
head -c $((256 << 20)) /dev/urandom >"$big/weights/shard-3.bin"
"$bin" build -f "$big/kaptain.yaml" 2>"$tmp/shard" >/dev/null
printf 'one shard of four changed: %s\n' "$(grep -E 'pushed|up to date' "$tmp/shard")"
