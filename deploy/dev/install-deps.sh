#!/usr/bin/env bash
# Installs the Debian packages the workspace needs to build, test and run on a fresh machine.
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(
  build-essential   # a C compiler for ring and the bundled SQLite
  pkg-config        # finds the system libraries below
  libwayland-dev    # winit (the candidate window) links Wayland's client library
  libxkbcommon-dev  # keyboard handling for the window
  fonts-noto-cjk    # the Chinese font the candidate screens use
  strace            # durability tests count the fsyncs of the real processes
)

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust 1.95 or newer (https://rustup.rs) and run this again" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
