#!/usr/bin/env bash
# Everything the demo and the tests need beyond node_modules, installed once and idempotent:
# system tools for the test hosts, and the local control plane built into a cache outside git.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

bash infra/control-plane/build.sh >/dev/null
