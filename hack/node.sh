#!/usr/bin/env bash
# Prepares the local cluster's real node and prints its directory: Debian's containerd, runc,
# CNI plugins, debootstrap and iproute2 (installed when missing, as root), kubelet built from the
# Go module proxy like the control plane, the pod sandbox ("pause") built here, and a base image
# made here from Debian's packages (python3 with numpy, boto3, scikit-learn and XGBoost: no image
# ever comes from a registry outside this machine). A second run with everything present does
# nothing.
#
#   hack/node.sh                       # prints the node directory
#
# Environment: KAPTAIN_CACHE (default .cache under the repository), KUBE_VERSION.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KAPTAIN_CACHE:-$root/.cache}
log() { printf 'node: %s\n' "$*" >&2; }

# The base image's packages: Debian bookworm's Python (also as python) with numpy, boto3 (the
# trainers upload with it), scikit-learn and XGBoost (the iris example trains and is served with
# them), from the machine's own apt sources (the mirror Debian's packages come from here).
suite=bookworm
packages=python3-minimal,python-is-python3,python3-numpy,python3-boto3,python3-sklearn,python3-xgboost
dir=$cache/node/$suite-${packages//,/-}
mkdir -p "$dir"

missing=()
for cmd in containerd runc debootstrap ip; do command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd"); done
[ -x /usr/lib/cni/bridge ] || missing+=(cni)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian's containerd, runc, containernetworking-plugins, debootstrap, iproute2"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends containerd runc containernetworking-plugins debootstrap iproute2 >/dev/null
fi

cp=$("$root/hack/control-plane.sh" kubelet)
ln -sf "$cp/kubelet" "$dir/kubelet"

if [ ! -x "$dir/pause" ]; then
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$dir/pause" ./test/localcluster/cmd/pause)
fi

if [ ! -f "$dir/base.tar" ]; then
  mirror=$(sed -n 's#^URIs: \(http[^ ]*/debian\)$#\1#p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  mirror=${mirror:-http://deb.debian.org/debian}
  log "making the base image: debootstrap --variant=minbase $suite with $packages from $mirror (about a minute, once)"
  rootfs=$dir/rootfs
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$dir/debootstrap.log" 2>&1
  rm -rf "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/locale "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/*
  # scipy's dependency pythran brings a C++ compiler, headers and static libraries that nothing
  # run in a container needs: half the image.
  rm -rf "$rootfs"/usr/include "$rootfs"/usr/lib/gcc "$rootfs"/usr/libexec/gcc "$rootfs"/usr/lib/python3.11/config-3.11-*
  find "$rootfs"/usr/lib "$rootfs"/usr/bin \( -name '*.a' -o -name '*lto-dump*' -o -name 'lib[alt]san.so*' -o -name 'libubsan.so*' \) -delete
  tar --numeric-owner -C "$rootfs" -cf "$dir/base.tar.tmp" .
  mv "$dir/base.tar.tmp" "$dir/base.tar"
  rm -rf "$rootfs"
fi
echo "$dir"
