#!/usr/bin/env bash
# Makes sure the Debian base image ($BASE_IMAGE, default debian:bookworm)
# exists in the local engine. In order: it is already there; it can be
# pulled; else it is bootstrapped from Debian's packages with debootstrap
# (minbase variant) from the mirror this machine's apt uses, and imported.
# The imported image is tagged with the official name, so the Dockerfiles
# read the same on a machine with a registry.
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-debian:bookworm}
SUITE=${SUITE:-bookworm}

log() { echo "bootstrap: $*" >&2; }

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "$BASE_IMAGE present"
  exit 0
fi

# A machine with no registry fails the pull at once (DNS) or after a
# connect timeout; 60 s is more than a real pull of the 50 MB base needs to
# start, and keeps a firewalled machine from hanging here.
if timeout 60 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
  log "pulled $BASE_IMAGE"
  exit 0
fi
log "$BASE_IMAGE cannot be pulled; bootstrapping it from Debian packages"

# mirror prints the first Debian (not security) mirror apt is configured with.
mirror() {
  local m
  m=$(grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk '{print $2}' | grep -v security | head -n1 || true)
  if [ -z "$m" ]; then
    m=$(grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '{print $2}' | grep -v security | head -n1 || true)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

MIRROR=${MIRROR:-$(mirror)}
SECURITY_MIRROR=${SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}

if ! command -v debootstrap >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends debootstrap
fi

root=$(mktemp -d /tmp/sf-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
log "debootstrap $SUITE from $MIRROR into $root"
debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >&2

# apt inside the image uses the same mirrors, with updates and security.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# Like the official image: no recommends, no docs, no caches in layers.
cat >"$root/etc/apt/apt.conf.d/90screenfleet" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/tmp/*

tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
log "imported $BASE_IMAGE"
