#!/usr/bin/env bash
# Prints the path of Debian's docker-registry (CNCF distribution), the OCI registry the
# integration tests start on loopback with TLS and htpasswd auth, installing the package first
# when it is missing (as root, or through sudo). The package's own service is not used.
set -euo pipefail

if ! command -v docker-registry >/dev/null 2>&1; then
  printf 'registry-server: installing Debian package docker-registry\n' >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends docker-registry >/dev/null
fi
command -v docker-registry
