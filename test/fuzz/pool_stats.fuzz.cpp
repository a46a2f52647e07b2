// libFuzzer harness: the counters of a pool (framework/src/pool_stats_shm.hpp), a shared-memory
// object any process of the same user can change, read by `procactor stat` and pool::stats()
// through decode_pool_stats. Whatever the bytes, it never reads past them and never accepts
// implausible figures (a counter at 2^62 or more, more than 2^20 workers); over a well-formed
// header (byte 0, bit 0) the input's bytes are the counters, so that they are reached.
//
// The seed corpus (corpus/pool_stats/) is written by the harness itself:
//   PROCACTOR_FUZZ_WRITE_SEEDS=test/fuzz/corpus/pool_stats build-fuzz/test/fuzz/fuzz_pool_stats

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <span>
#include <string>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"
#include "pool_stats_shm.hpp"

namespace {

using namespace procactor::detail;

struct header {
  std::uint64_t magic;
  std::uint32_t version, size;
};

std::vector<unsigned char> well_formed(const std::uint64_t (&v)[7]) {
  std::vector<unsigned char> out(sizeof(pool_stats_block));
  const header h{pool_stats_magic, pool_stats_version, static_cast<std::uint32_t>(sizeof(pool_stats_block))};
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + sizeof h, v, sizeof v);
  return out;
}

void check(const unsigned char* data, std::size_t size) {
  std::error_code ec;
  auto s = decode_pool_stats(std::span<const unsigned char>(data, size), ec);
  procactor_fuzz::require(s.has_value() != static_cast<bool>(ec));  // a value xor an error
  if (!s) return;
  constexpr std::uint64_t plausible = std::uint64_t{1} << 62;
  for (std::uint64_t x : {s->queued, s->running, s->done, s->retried, s->failed, s->deaths, s->workers}) {
    procactor_fuzz::require(x < plausible);
  }
  procactor_fuzz::require(s->workers <= (std::uint64_t{1} << 20));
}

void write_seeds() {
  const char* dir = procactor_fuzz::seed_dir();
  if (!dir) return;
  const std::uint64_t sound[7] = {1, 2, 3, 4, 5, 6, 2};
  const std::uint64_t many[7] = {0, 0, 0, 0, 0, 0, std::uint64_t{1} << 40};
  auto text = [](const void* p, std::size_t n) { return std::string(static_cast<const char*>(p), n); };
  const auto whole = well_formed(sound);
  procactor_fuzz::write_seed(dir, "sound", std::string(1, '\0'), text(whole.data(), whole.size()));
  procactor_fuzz::write_seed(dir, "too_many_workers", std::string(1, '\1'), text(many, sizeof many));
  procactor_fuzz::write_seed(dir, "short", std::string(1, '\0'), "po");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  write_seeds();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1) {  // over a well-formed header: the rest of the input is the counters
    std::vector<unsigned char> b = well_formed({0, 0, 0, 0, 0, 0, 0});
    std::memcpy(b.data() + sizeof(header), data + 1, std::min(size - 1, b.size() - sizeof(header)));
    check(b.data(), b.size());
  } else {
    std::vector<unsigned char> b(data + 1, data + size);  // exactly the input's bytes: ASan sees an over-read
    check(b.data(), b.size());
  }
  return 0;
}
