#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite twice: a normal build and an AddressSanitizer +
# UndefinedBehaviorSanitizer build, both with warnings as errors. Fails if any test fails or if
# anything is left in /dev/shm.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
shm_before=$(ls /dev/shm | grep '^procactor\.' | sort || true)

run_suite() {  # build-dir, extra cmake args...
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DPROCACTOR_WARNINGS_AS_ERRORS=ON "$@" >/dev/null
  cmake --build "$dir" -j2
  (cd "$dir" && ctest --output-on-failure -j2)
}

echo "== plain build"
run_suite build-test
echo "== ASan + UBSan build"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan -DPROCACTOR_SANITIZE=address,undefined

shm_after=$(ls /dev/shm | grep '^procactor\.' | sort || true)
leaked=$(comm -13 <(echo "$shm_before") <(echo "$shm_after"))
if [[ -n "$leaked" ]]; then
  echo "FAILED: the test suite left objects in /dev/shm:"
  echo "$leaked"
  exit 1
fi
echo "/dev/shm: nothing left behind"
