#!/usr/bin/env bash
# Everything the demo and the tests need beyond node_modules, installed once and idempotent:
# system tools for the test hosts, and the local control plane built into a cache outside git.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
# faketime freezes the clock for the AWS CLI, the reference our EKS tokens are compared with.
command -v faketime >/dev/null || missing+=(faketime)
# curl signs docs/deploying.md's trigger requests (--aws-sigv4).
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The AWS CLI (v1, from PyPI) presigns EKS tokens without any network: the reference for ours.
python3 -c 'import awscli' 2>/dev/null || python3 -m pip install -q 'awscli==1.46.3'

# moto's server stands in for EC2, Route 53 and STS in the tests and the discovery benchmark (test/harness/moto.ts).
python3 -c 'import sys, moto, moto.server; sys.exit(tuple(int(part) for part in moto.__version__.split(".")[:3]) < (5, 2, 5))' 2>/dev/null \
  || python3 -m pip install -q 'moto[server]==5.2.5'

bash infra/control-plane/build.sh >/dev/null
