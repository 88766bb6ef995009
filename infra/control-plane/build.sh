#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager) and kubectl (for the commands
# docs/deploying.md runs) from the Go module proxy into a cache outside git. Idempotent: a warm cache returns at once.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.5.21}"
# The last etcd without /readyz (added in v3.5.11): the etcd check's /health fallback is tested against it.
ETCD_WITHOUT_READYZ_VERSION=v3.5.10
CACHE="${EES_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/external-endpoint-syncer}"
BIN="$CACHE/bin/kube-$KUBE_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$BIN"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

log() { printf '[control-plane] %s\n' "$*" >&2; }

# build_etcd VERSION NAME: etcd VERSION as $BIN/NAME.
build_etcd() {
  local version="$1" name="$2"
  [ -x "$BIN/$name" ] && return
  local work="$CACHE/src/etcd-$version"
  mkdir -p "$work" && cd "$work"
  [ -f go.mod ] || go mod init ees/etcd-build >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$version"
  go build -o "$BIN/$name.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN/$name.tmp" "$BIN/$name"
}

build_kube() {
  [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/kubectl" ] && return
  local work="$CACHE/src/kubernetes-$KUBE_VERSION"
  mkdir -p "$work" && cd "$work"
  if [ ! -f go.mod ]; then
    go mod init ees/kube-build >/dev/null 2>&1
    go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
    local kmod; kmod="$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION/go.mod"
    # k8s.io/kubernetes maps its staging modules to ./staging; point each at its published tag.
    local staged; staged=$(grep -E '^\s*k8s.io/[^ ]+ => ./staging/' "$kmod" | awk '{print $1}')
    local minor="v0.${KUBE_VERSION#v1.}"
    go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
    for m in $staged; do go mod edit -replace="$m=$m@$minor"; done
    cat > tools.go <<'GO'
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
    go mod tidy
  fi
  [ -x "$BIN/kube-apiserver" ] || { go build -o "$BIN/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver && mv "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"; }
  [ -x "$BIN/kube-controller-manager" ] || { go build -o "$BIN/kube-controller-manager.tmp" k8s.io/kubernetes/cmd/kube-controller-manager && mv "$BIN/kube-controller-manager.tmp" "$BIN/kube-controller-manager"; }
  # `kubectl version` says which release it is, as a downloaded one would.
  [ -x "$BIN/kubectl" ] || { go build -ldflags "-X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION" -o "$BIN/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl && mv "$BIN/kubectl.tmp" "$BIN/kubectl"; }
}

start=$(date +%s)
( build_etcd "$ETCD_VERSION" etcd )
( build_etcd "$ETCD_WITHOUT_READYZ_VERSION" etcd-without-readyz )
( build_kube )
log "binaries ready in $BIN ($(( $(date +%s) - start )) s)"
echo "$BIN"
