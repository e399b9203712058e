#!/usr/bin/env bash
# Prints the bin directory of Debian's PostgreSQL (initdb, postgres), the database Katib's
# db-manager keeps observation logs in on the local Kubeflow, installing the package first when
# it is missing (as root, or through sudo). The package's own service is not used: the local
# cluster initialises and starts a database of its own on loopback.
set -euo pipefail

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(find_bin)" ] || [ ! -x "$(find_bin)/initdb" ]; then
  printf 'postgres: installing Debian package postgresql\n' >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
find_bin
