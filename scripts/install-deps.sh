#!/usr/bin/env bash
# Installs what screenfleet needs on Debian 12 and checks the Go toolchain.
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(
  xvfb                      # the sandboxes' displays
  firefox-esr               # the demo's app
  tesseract-ocr tesseract-ocr-eng libtesseract-dev libleptonica-dev  # OCR (cgo)
  fonts-dejavu-core         # the example pages' font
  protobuf-compiler         # make proto
  x11-utils                 # xdpyinfo, for debugging displays
  prometheus                # promtool checks deploy/prometheus.yml and the dashboard's queries
  gcc pkg-config
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v go >/dev/null || { echo "go is not on PATH (want Go 1.26)"; exit 1; }
go mod download
