#!/usr/bin/env bash
# Differential and end-to-end tests compare raftkv with real etcd 3.4 and drive it with the
# real etcdctl. Install both from Debian when they are missing (this needs root and apt).
set -euo pipefail
if command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "raftkv tests need etcd and etcdctl 3.4 on PATH (Debian: apt-get install etcd-server etcd-client)" >&2
  exit 1
fi
echo "installing the reference etcd-server and etcd-client from Debian..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq etcd-server etcd-client >/dev/null
etcd --version | head -1
