#!/usr/bin/env bash
# Builds every screenfleet image on the local engine: `make images`.
#
# Works with no container registry: the Debian base is bootstrapped when it
# cannot be pulled (images/base/bootstrap.sh). The Go binaries are built on
# this machine (Debian 12, the same libraries as the images) and copied in,
# so no Go toolchain image is needed either. Re-running is fast: the base is
# kept, Go's build cache makes the binaries, and the engine's layer cache
# keeps every layer whose inputs did not change (-trimpath makes the
# binaries byte-identical when the code is).
#
# Environment: TAG (default latest), IMAGES (default "sandbox dispatcher
# worker inferd nats"), BASE_IMAGE (default debian:bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${TAG:-latest}
IMAGES=${IMAGES:-sandbox dispatcher worker inferd nats}
export BASE_IMAGE=${BASE_IMAGE:-debian:bookworm}
GO=${GO:-go}
ctx_root=bin/images

began=$(date +%s)
images/base/bootstrap.sh

# Without the buildx plugin the CLI uses the classic builder; asking for
# BuildKit then would fail, so say which one plainly.
if ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi

# binary builds cmd/$1 (or the Go package $3) into the build context $2.
binary() {
  local name=$1 dir=$2 pkg=${3:-./cmd/$1} cgo=0
  [ "$name" = inferd ] && cgo=1 # Tesseract through cgo
  CGO_ENABLED=$cgo $GO build -trimpath -ldflags='-s -w' -o "$dir/$name" "$pkg"
}

for name in $IMAGES; do
  t0=$(date +%s)
  dir=$ctx_root/$name
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -p images/"$name"/* "$dir"/
  case $name in
    sandbox) binary agentd "$dir" ;;
    nats) binary nats-server "$dir" github.com/nats-io/nats-server/v2 ;;
    *) binary "$name" "$dir" ;;
  esac
  t1=$(date +%s)
  if ! docker build --build-arg "BASE=$BASE_IMAGE" -t "screenfleet/$name:$TAG" "$dir" \
      >"$ctx_root/$name.log" 2>&1; then
    tail -n 40 "$ctx_root/$name.log" >&2
    echo "images: building $name failed; the whole log is $ctx_root/$name.log" >&2
    exit 1
  fi
  echo "images: screenfleet/$name:$TAG (go build $((t1 - t0)) s, docker build $(( $(date +%s) - t1 )) s)" >&2
done
# Rebuilt images leave their predecessors untagged; drop those (ours only).
docker image prune -f --filter label=io.screenfleet.image >/dev/null
echo "images: built $IMAGES in $(( $(date +%s) - began )) s" >&2
docker image ls --filter reference='screenfleet/*' --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' >&2
