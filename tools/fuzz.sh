#!/usr/bin/env bash
# Builds the libFuzzer harnesses of test/fuzz with clang++ (ASan + UBSan) in their own build
# directory and runs each one for SECONDS (default 60) on a copy of its seed corpus
# (test/fuzz/corpus/<harness>/). Exits non-zero if a harness finds something: the input that
# triggered it is kept in BUILD/fuzz-artifacts/ (reproduce with: BUILD/test/fuzz/fuzz_<harness> FILE).
#
# usage: tools/fuzz.sh [SECONDS] [HARNESS...]
# env:   FUZZ_SECONDS (instead of the argument), FUZZ_BUILD_DIR (default build-fuzz),
#        FUZZ_JOBS (build parallelism, default 2), FUZZ_PARALLEL (harnesses run at once, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${FUZZ_SECONDS:-60}
if (($#)) && [[ $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${FUZZ_JOBS:-2}

# clang and its libFuzzer runtime (Debian: clang-14, libclang-rt-14-dev), installed if missing
cxx=$(command -v clang++-14 || command -v clang++ || true)
probe() {
  [[ -n $cxx ]] || return 1
  local dir
  dir=$(mktemp -d)
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$dir/p.cpp"
  "$cxx" -fsanitize=fuzzer,address,undefined "$dir/p.cpp" -o "$dir/p" >/dev/null 2>&1
  local rc=$?
  rm -rf "$dir"
  return $rc
}
if ! probe; then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends clang-14 libclang-rt-14-dev
  cxx=$(command -v clang++-14 || command -v clang++)
  probe || { echo "fuzz.sh: $cxx cannot build libFuzzer binaries" >&2; exit 2; }
fi
bash tools/deps.sh

# the harnesses: test/fuzz/<name>.fuzz.cpp, or those named on the command line
harnesses=("$@")
if ((${#harnesses[@]} == 0)); then
  for f in test/fuzz/*.fuzz.cpp; do
    n=${f##*/}
    harnesses+=("${n%.fuzz.cpp}")
  done
fi

cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROCACTOR_FUZZ=ON \
  -DPROCACTOR_BUILD_TESTS=OFF -DPROCACTOR_BUILD_SAMPLES=OFF -DPROCACTOR_BUILD_BENCH=OFF -DPROCACTOR_INSTALL=OFF \
  -DPROCACTOR_WARNINGS_AS_ERRORS=ON >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
nice cmake --build "$build" -j"$jobs" --target "${targets[@]}"

# Two harnesses at a time (FUZZ_PARALLEL), each on one core: with the nine harnesses and CI's
# 30 s each (tools/test.sh), the runs take about two and a half minutes after the build.
parallel=${FUZZ_PARALLEL:-2}
mkdir -p "$build/fuzz-artifacts"
run_one() {
  local h=$1
  rm -f "$build/fuzz-$h.rc"
  local work="$build/fuzz-corpus/$h"  # new inputs go here; the committed seeds stay as they are
  mkdir -p "$work"
  local seeds="test/fuzz/corpus/$h"
  [[ -d $seeds ]] || seeds=""
  local log="$build/fuzz-$h.log"
  echo "== fuzz_$h: $seconds s (log: $log)"
  local rc=0
  "$build/test/fuzz/fuzz_$h" "$work" ${seeds:+"$seeds"} -max_total_time="$seconds" -print_final_stats=1 \
    -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
    -artifact_prefix="$build/fuzz-artifacts/$h-" >"$log" 2>&1 || rc=$?
  echo "$rc" >"$build/fuzz-$h.rc"
}
pids=()
for h in "${harnesses[@]}"; do
  while ((${#pids[@]} >= parallel)); do
    wait "${pids[0]}" || true
    pids=("${pids[@]:1}")
  done
  run_one "$h" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done

status=0
summary=()
for h in "${harnesses[@]}"; do
  log="$build/fuzz-$h.log"
  rc=$(cat "$build/fuzz-$h.rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  if ((rc != 0)); then
    status=1
    summary+=("fuzz_$h: FINDING (exit $rc) after ${execs:-?} executions, see $log and $build/fuzz-artifacts/")
    # what failed and where: the sanitizer's verdict, and the harness' own frames of the stack
    # (a failed require() of a harness is an abort: "deadly signal", its line in the stack)
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written|#[0-9]+ .*(fuzz\.cpp|/framework/src/)' "$log" | head -30 || true
  else
    summary+=("fuzz_$h: ${execs:-?} executions in $seconds s, ${cov:-cov: ?}, no finding")
  fi
done
printf '%s\n' "${summary[@]}"
exit $status
