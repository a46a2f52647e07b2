#pragma once
// What the libFuzzer harnesses share: an invariant check that crashes (libFuzzer keeps the input),
// and the writer of seed files (PROCACTOR_FUZZ_WRITE_SEEDS=DIR makes a harness write its seed
// corpus into DIR from LLVMFuzzerInitialize).

#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace procactor_fuzz {

/// Aborts when an invariant does not hold: libFuzzer reports it and keeps the input.
inline void require(bool ok) {
  if (!ok) std::abort();
}

/// The directory PROCACTOR_FUZZ_WRITE_SEEDS names, or nullptr when seeds are not to be written.
inline const char* seed_dir() { return std::getenv("PROCACTOR_FUZZ_WRITE_SEEDS"); }

/// Writes one seed file: @p head (the harness's selector bytes), then @p body.
inline void write_seed(const char* dir, const char* name, std::string_view head, std::string_view body) {
  std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << head << body;
}

}  // namespace procactor_fuzz
