#!/usr/bin/env bash
# Sets up, builds and runs the test suite in every configuration CI checks (docs/testing-plan.md
# says what each one is for and why it is shaped as it is):
#   plain   g++, Release, warnings as errors: everything (samples, bench, package_consumer)
#   asan    clang++ 14 (the second compiler), -O1 with assert() on, AddressSanitizer +
#           UndefinedBehaviorSanitizer, _GLIBCXX_ASSERTIONS: the whole ctest suite but the text
#           checks (label docs) and package_consumer
#   tsan    g++, RelWithDebInfo, ThreadSanitizer: the suites that use threads (label `threads`)
#   chaos   tools/chaos.py on the main demo: random SIGKILLs, then SIGSTOPs, from outside, while
#           `procactor tree --json` reads the tree's registry throughout
#   browser tools/dashboard_test.py: the dashboard of `procactor serve` in headless Chromium
#   fuzz    tools/fuzz.sh 30: the libFuzzer harnesses of test/fuzz (clang, ASan + UBSan), 30 s each
# PROCACTOR_TEST_STAGES="asan tsan" bash tools/test.sh runs only those stages (CI runs them all;
# `clang`, the name of a stage merged into asan, is taken as asan).
# Every stage runs even if an earlier one failed; the script fails if any stage failed or if
# anything is left in /dev/shm. One timing line per stage is printed as it ends, and all of them
# again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
bash tools/deps.sh --test
deps_line=$(printf '%-5s %d s' deps $((SECONDS - t0)))
shm_before=$(ls /dev/shm | grep '^procactor\.' | sort || true)

clangxx=$(command -v clang++-14 || command -v clang++)
summary=("$deps_line")
failed=0
stages=" ${PROCACTOR_TEST_STAGES:-plain asan tsan chaos browser fuzz} "
[[ $stages == *" clang "* ]] && stages+="asan "
want() { [[ $stages == *" $1 "* ]]; }

# shm_report NAME: after a stage, the procactor.* objects in /dev/shm that were not there before
# the run, each with its owner process if it still runs (objects are named procactor.<pid>-...):
# which stage left one, and whether its owner is a process that outlived its test.
shm_report() {
  local name left obj pid
  left=$(comm -13 <(echo "$shm_before") <(ls /dev/shm | grep '^procactor\.' | sort || true))
  [[ -z $left ]] && return 0
  echo "== $1: in /dev/shm after this stage (a later tree start collects those of dead owners):"
  for obj in $left; do
    pid=${obj#procactor.}
    pid=${pid%%-*}
    echo "   $obj  owner: $(ps -o pid=,etime=,args= -p "$pid" 2>/dev/null | cut -c1-150 || true)"
  done
}

# configure BUILD_DIR CMAKE_ARGS...: quiet unless it fails.
configure() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -DPROCACTOR_WARNINGS_AS_ERRORS=ON "$@" >"$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log"; return 1; }
}

# stage NAME BUILD_DIR BUILD_TARGET TEST_COMMAND -- CMAKE_ARGS...: configure, build with -j2, run
# TEST_COMMAND in the build directory, print one timing line.
stage() {
  local name=$1 dir=$2 target=$3 test_command=$4
  shift 4
  [[ $1 == -- ]] && shift
  echo "== $name: building in $dir"
  local t0=$SECONDS status=ok build_s test_s=0
  mkdir -p "$dir"
  if configure "$dir" "$@" && cmake --build "$dir" -j2 --target "$target"; then
    build_s=$((SECONDS - t0))
    echo "== $name: testing"
    (cd "$dir" && $test_command) || status=FAILED
    test_s=$((SECONDS - t0 - build_s))
  else
    build_s=$((SECONDS - t0))
    status="FAILED (build)"
  fi
  [[ $status == ok ]] || failed=1
  local line
  line=$(printf '%-5s build %4d s, tests %4d s, total %2dm%02ds (load %s): %s' "$name" "$build_s" "$test_s" \
    $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)) "$(cut -d' ' -f1 /proc/loadavg)" "$status")
  echo "== timing: $line"
  summary+=("$line")
  shm_report "$name"
}

# The whole ctest suite; its summary lines are printed as usual.
all_tests() { ctest --output-on-failure -j2; }

# all_tests_except ENTRY...: the whole ctest suite except each ENTRY, either a ctest name (left
# out whole) or SUITE/CASE (one case of a Boost.Test suite: the suite's other cases then run on
# their own, after ctest).
all_tests_except() {
  local e s rc=0 names=() args=()
  for e in "$@"; do names+=("${e%%/*}"); done
  echo "left out: $*"
  ctest --output-on-failure -j2 -E "^($(IFS='|'; echo "${names[*]}"))\$" || rc=1
  for s in $(printf '%s\n' "$@" | grep / | cut -d/ -f1 | sort -u); do
    args=(--run_test="$s")
    for e in "$@"; do [[ $e == "$s"/* ]] && args+=(--run_test="!$e"); done
    echo "== the other cases of $s"
    test/procactor_tests "${args[@]}" --report_level=short || rc=1
  done
  return $rc
}

# The asan build runs everything but the install/consume check (which the plain build runs) and
# the text checks (label docs: they do not depend on the compiler). compile_fail runs: clang's
# messages are not g++'s.
asan_tests() {
  echo "left out: label docs (the plain stage runs it)"
  ctest --output-on-failure -j2 -LE '^docs$'
}

# ThreadSanitizer cannot be pointed at the whole suite; see docs/testing-plan.md for the details.
#  - Under g++ 12's TSan the process has a second thread, TSan's own background thread, from the
#    first pthread_create on, and every forked child has it from the start (TSan starts it in the
#    child right after fork). procactor's fork start method counts threads (process.cpp,
#    thread_count) and refuses (errc::unsafe_fork) when there are two. So:
#    * a suite whose cases start a thread and later cases fork (process_test) would fail from
#      that case on: each case of a `threads` suite runs as its own ctest entry, in its own process;
#    * so process.cpp's thread_count() does not count TSan's thread (TSan stops and restarts it
#      around fork, so it does not make fork unsafe), and trees run under TSan as elsewhere.
#  - TSan sees only the threads of one process. The chaos suites (SIGKILL of a process holding a
#    robust mutex in shared memory) make it report "unlock of an unlocked mutex" when another
#    process takes the mutex over (EOWNERDEAD): a cross-process hand-over it cannot model.
#    Suites without threads have nothing for it to find, so only the `threads` label runs.
# process.cpp's thread_count() does not count TSan's own thread (it is fork-aware). Left out: a
# test whose owner is a forked child that starts a tree; tree::start measures the wake-up cost on
# a thread before it forks the root, and in a forked child of a TSan process the thread count
# stays above what thread_count() discounts, so the fork is refused (a TSan artefact: the plain
# and asan stages run this test).
tsan_excluded=(tree_test/killing_the_owner_of_a_tree_ends_every_process_of_it_and_removes_every_object)
threads_tests_one_case_each() {
  local dir=per-case suite case name skip
  rm -rf "$dir" && mkdir -p "$dir"
  local suites listing
  suites=$(ctest -N -L threads | sed -n 's/^ *Test *#[0-9]*: *//p')
  listing=$(test/procactor_tests --list_content 2>&1)  # "suite*" lines, then "    case*" (* = enabled)
  for suite in $suites; do
    for case in $(awk -v s="$suite" '/^[A-Za-z0-9_]+\*?$/ { cur = $1; sub(/\*$/, "", cur); next }
                                     cur == s && /^    [A-Za-z0-9_]+\*$/ { sub(/\*$/, "", $1); print $1 }' <<<"$listing"); do
      name=$suite/$case
      skip=0
      for x in "${tsan_excluded[@]}"; do [[ $name == "$x" || $suite == "$x" ]] && skip=1; done
      if ((skip)); then
        echo "tsan: left out: $name" >&2
        continue
      fi
      printf 'add_test([=[%s]=] "%s" "--run_test=%s" "--report_level=short")\n' "$name" "$PWD/test/procactor_tests" "$name"
      printf 'set_tests_properties([=[%s]=] PROPERTIES TIMEOUT 300 RESOURCE_LOCK procactor_shm)\n' "$name"
    done >>"$dir/CTestTestfile.cmake"
  done
  [[ -s $dir/CTestTestfile.cmake ]] || { echo "tsan: no test case found with label threads"; return 1; }
  # Reports go to files (TSAN_OPTIONS log_path, below): a report in a forked child (a cluster
  # node's gateway runs libnats' threads) ends that child, not the test, so the test may pass.
  rm -rf tsan-reports && mkdir -p tsan-reports
  local rc=0
  ctest --test-dir "$dir" --output-on-failure -j2 || rc=1
  if compgen -G "tsan-reports/report.*" >/dev/null; then
    echo "tsan: reports (from the tests or the processes they forked):"
    cat tsan-reports/report.*
    rc=1
  fi
  return $rc
}

# 1. The reference build: g++ Release, everything, including the install/consume check.
want plain && stage plain build-test all all_tests -- -DCMAKE_BUILD_TYPE=Release

# 2. ASan + UBSan, built by clang++ 14: a second compiler's warnings and code, libstdc++'s checked
#    operations (_GLIBCXX_ASSERTIONS: bounds of operator[], front/back of empty containers, ...;
#    not _GLIBCXX_DEBUG, whose containers change layout under Boost.Test's shared library), and
#    assert() on (Debug, at -O1 as the sanitizers' docs advise). One build where there were two
#    (g++ under ASan + UBSan, and clang++ with the assertions): clang++ compiles a test file under
#    ASan + UBSan in 32 s where g++ 12 takes 54 s, and the two builds were 23 of CI's 57 minutes
#    (docs/testing-plan.md). package_consumer stays in the plain build.
want asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  stage asan build-asan all asan_tests -- -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$clangxx" \
  -DCMAKE_CXX_FLAGS=-D_GLIBCXX_ASSERTIONS "-DCMAKE_CXX_FLAGS_DEBUG=-O1" -DPROCACTOR_SANITIZE=address,undefined \
  -DPROCACTOR_BUILD_BENCH=OFF -DPROCACTOR_INSTALL=OFF

# 3. ThreadSanitizer on the suites whose test process starts threads (label `threads`), one
#    process per test case (above). procactor_tests is built from those suites' files only
#    (PROCACTOR_TEST_ONLY_THREADS, test/CMakeLists.txt), and so without the procactor command.
want tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tools/tsan.supp log_path=$PWD/build-tsan/tsan-reports/report" \
  stage tsan build-tsan procactor_tests threads_tests_one_case_each -- -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPROCACTOR_SANITIZE=thread -DPROCACTOR_BUILD_BENCH=OFF -DPROCACTOR_BUILD_SAMPLES=OFF -DPROCACTOR_INSTALL=OFF \
  -DPROCACTOR_TEST_ONLY_THREADS=ON

# 4. Chaos, from outside (tools/chaos.py): the main demo under random SIGKILLs, then random
#    SIGSTOPs, to any process of its tree but the owner, 5 per second for 30 s each; it must keep
#    making progress, stop on SIGINT, leave no process (alive or stopped) and nothing in /dev/shm.
#    The demo binary is the plain build's (built here if that stage did not run).
if want chaos; then
  echo "== chaos"
  t0=$SECONDS
  status=ok
  if { [[ -x build-test/samples/supervised_tree && -x build-test/tools/cli/procactor ]]; } ||
    { mkdir -p build-test && configure build-test -DCMAKE_BUILD_TYPE=Release &&
      cmake --build build-test -j2 --target supervised_tree procactor_cli; }; then
    for mode in kill stop; do
      python3 tools/chaos.py --mode "$mode" --duration 30 --binary build-test/samples/supervised_tree \
        --cli build-test/tools/cli/procactor || status=FAILED
    done
  else
    status="FAILED (build)"
  fi
  [[ $status == ok ]] || failed=1
  line=$(printf '%-5s kill and stop modes %2dm%02ds: %s' chaos $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)) "$status")
  echo "== timing: $line"
  summary+=("$line")
  shm_report chaos
fi

# 5. The dashboard in a real browser (tools/dashboard_test.py): the demo runs, `procactor serve`
#    serves it, headless Chromium (driven by Selenium) must show the demo's actors, a counter that
#    increases and w2's restart in the event log. Chromium, its driver and Debian's Selenium are
#    installed here (tools/deps.sh --browser); the script runs under Debian's python3, which has them.
if want browser; then
  echo "== browser"
  t0=$SECONDS
  status=ok
  if bash tools/deps.sh --browser &&
    { { [[ -x build-test/samples/supervised_tree && -x build-test/tools/cli/procactor ]]; } ||
      { mkdir -p build-test && configure build-test -DCMAKE_BUILD_TYPE=Release &&
        cmake --build build-test -j2 --target supervised_tree procactor_cli; }; }; then
    /usr/bin/python3 tools/dashboard_test.py --demo build-test/samples/supervised_tree \
      --cli build-test/tools/cli/procactor || status=FAILED
  else
    status="FAILED (setup)"
  fi
  [[ $status == ok ]] || failed=1
  line=$(printf '%-5s dashboard in headless Chromium %2dm%02ds: %s' browser $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)) "$status")
  echo "== timing: $line"
  summary+=("$line")
  shm_report browser
fi

# 6. Fuzzing -------------------------------------------------------------------------------------
# tools/fuzz.sh (libFuzzer harnesses under test/fuzz/, built with clang): each harness for 30 s,
# two at a time, on its committed seed corpus (longer runs: tools/fuzz.sh SECONDS by hand).
if want fuzz && [[ -f tools/fuzz.sh ]]; then
  echo "== fuzz"
  t0=$SECONDS
  status=ok
  bash tools/fuzz.sh 30 || { status=FAILED; failed=1; }
  line=$(printf '%-5s build and run %2dm%02ds: %s' fuzz $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)) "$status")
  echo "== timing: $line"
  summary+=("$line")
  shm_report fuzz
fi
# ------------------------------------------------------------------------------------------------

echo "== timings ($(nproc) cores; load now $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${summary[@]}"

shm_after=$(ls /dev/shm | grep '^procactor\.' | sort || true)
leaked=$(comm -13 <(echo "$shm_before") <(echo "$shm_after"))
if [[ -n "$leaked" ]]; then
  echo "FAILED: the test suite left objects in /dev/shm:"
  echo "$leaked"
  exit 1
fi
echo "/dev/shm: nothing left behind"
if ((failed)); then
  echo "FAILED: see the stages marked FAILED above"
  exit 1
fi
