#!/usr/bin/env bash
# Sets up, builds and runs the main demo: a supervised process tree (nested supervisors) doing real work,
# with a worker crash and restart you can see. Ends by itself (15 s); pass --duration SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPROCACTOR_BUILD_TESTS=OFF >/dev/null
cmake --build build -j2 --target supervised_tree >/dev/null
exec build/samples/supervised_tree "$@"
