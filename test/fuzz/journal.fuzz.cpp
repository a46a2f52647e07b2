// libFuzzer harness: the delivery journal of an at-least-once mailbox (framework/src/ipc/journal.hpp),
// shared memory whose bytes any process of the same user can change. Its header, its record count
// and every record come from the input (over a well-formed header, so that the records are
// reached); the checks a receiver and its supervisor apply before they follow a record
// (journal_header_ok, record_ok, journal_pending) must never accept one that points outside the
// buffer, is longer than the mailbox's maximum message size, carries more than max_pack messages
// or more acks than messages; the bytes of every record accepted are read (AddressSanitizer
// watches the reads).
//
// Input: byte 0: bit 0 keeps the header well-formed (else the input overwrites it too); then the
// bytes laid over the journal from its record count on (or from its start).
//
// The seed corpus (corpus/journal/) is written by the harness itself:
//   PROCACTOR_FUZZ_WRITE_SEEDS=test/fuzz/corpus/journal build-fuzz/test/fuzz/fuzz_journal

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "ipc/journal.hpp"

namespace {

using namespace procactor::ipc;

constexpr std::uint64_t max_message = 512;
constexpr std::uint64_t buf_bytes = 4096;

struct image {
  std::vector<unsigned char> bytes = std::vector<unsigned char>(journal_size(buf_bytes));
  journal_block& j() { return *reinterpret_cast<journal_block*>(bytes.data()); }
  const char* buf() const { return reinterpret_cast<const char*>(bytes.data()) + journal_buf_at; }
  image() {
    journal_block* b = new (bytes.data()) journal_block{};
    b->version = journal_version;
    b->max_attempts = 3;
    b->buf_bytes = buf_bytes;
    b->max_message_size = max_message;
    b->magic.store(journal_magic);
  }
};

void run(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return;
  image im;
  const bool keep_header = (data[0] & 1) != 0;
  const std::size_t at = keep_header ? offsetof(journal_block, n) : 0;
  const std::size_t n = std::min(size - 1, im.bytes.size() - at);
  std::memcpy(im.bytes.data() + at, data + 1, n);
  const journal_block& j = im.j();
  if (!journal_header_ok(j, buf_bytes, max_message)) return;
  std::uint64_t pending = 0;
  const bool all_ok = journal_pending(j, buf_bytes, max_message, pending);
  const std::uint32_t count = j.n.load();
  procactor_fuzz::require(count <= journal_slots);
  std::uint64_t sum = 0;
  bool every = true;
  for (std::uint32_t i = 0; i < count; ++i) {
    journal_entry e;
    if (!record_ok(j, i, buf_bytes, max_message, e)) {
      every = false;
      continue;
    }
    procactor_fuzz::require(e.at <= buf_bytes && e.len <= buf_bytes - e.at && e.len <= max_message && e.len > 0);
    procactor_fuzz::require(e.count >= 1 && e.count <= max_pack && e.done <= e.count);
    procactor_fuzz::require(e.runs <= journal_max_attempts + 1);
    volatile char sink = 0;
    for (std::uint64_t k = 0; k < e.len; ++k) sink = static_cast<char>(sink ^ im.buf()[e.at + k]);  // within the buffer
    sum += e.count - e.done;
  }
  procactor_fuzz::require(all_ok == every);
  if (all_ok) procactor_fuzz::require(pending == sum && pending <= std::uint64_t{journal_slots} * max_pack);
  journal_entry none;
  procactor_fuzz::require(!record_ok(j, journal_slots, buf_bytes, max_message, none));
}

void write_seeds() {
  const char* dir = procactor_fuzz::seed_dir();
  if (!dir) return;
  // a sound journal of two records (one packed, half acked) and one with a record past the buffer
  image im;
  journal_block& j = im.j();
  j.n.store(2);
  j.rec[0].at.store(0);
  j.rec[0].len.store(100);
  j.rec[0].count.store(1);
  j.rec[1].at.store(112);
  j.rec[1].len.store(300);
  j.rec[1].count.store(10);
  j.rec[1].done.store(5);
  j.rec[1].runs.store((std::uint64_t{5} << 32) | 2);
  const char* from = reinterpret_cast<const char*>(im.bytes.data()) + offsetof(journal_block, n);
  const std::string body(from, sizeof(std::uint32_t) * 2 + sizeof(std::uint64_t) + 2 * sizeof(journal_record));
  procactor_fuzz::write_seed(dir, "sound", std::string(1, '\1'), body);
  j.rec[1].at.store(buf_bytes - 16);
  const std::string bad(from, body.size());
  procactor_fuzz::write_seed(dir, "past_the_buffer", std::string(1, '\1'), bad);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  write_seeds();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  run(data, size);
  return 0;
}
