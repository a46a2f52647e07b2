#!/usr/bin/env bash
# Installs what procactor needs to build and test on Debian 12 (bookworm). Idempotent.
#   bash tools/deps.sh          what building, the samples and the demo need (with the cluster over
#                               NATS: libnats-dev, found with pkg-config by cmake/procactor_nats.cmake,
#                               and nats-server for the cluster tests, benchmarks and demo)
#   bash tools/deps.sh --test   also what tools/test.sh needs: clang++ 14 and its sanitizer and
#                               libFuzzer runtimes for its asan build and tools/fuzz.sh, iproute2
#                               (`ip netns`: the partition tests of cluster_netns_test, run as root)
#                               (g++'s sanitizer runtimes, for the tsan build, come with g++ itself)
#   bash tools/deps.sh --browser   what the dashboard's browser test needs: Chromium, its WebDriver
#                               and Debian's Selenium (for /usr/bin/python3)
set -euo pipefail
packages=(g++ cmake make python3 libboost1.81-dev libboost-test1.81-dev libcereal-dev libcli11-dev
  pkg-config libnats-dev nats-server)
if [[ ${1:-} == --browser ]]; then
  packages=(chromium chromium-driver python3-selenium)
elif [[ ${1:-} == --test ]]; then
  # the API reference check (ctest api_reference); tools/test.sh's asan build and tools/fuzz.sh
  # (clang++ with its ASan, UBSan and libFuzzer runtimes, and llvm-14 for llvm-symbolizer-14,
  # which clang's runtimes run to name the functions of a report: only recommended by clang-14)
  packages+=(doxygen clang-14 libclang-rt-14-dev llvm-14 iproute2 openssl)
fi
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
