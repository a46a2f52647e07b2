#!/usr/bin/env bash
# Installs what procactor needs to build and test on Debian 12 (bookworm). Idempotent.
set -euo pipefail
packages=(g++ cmake make python3 libboost1.81-dev libboost-test1.81-dev libcereal-dev libcli11-dev doxygen)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
