// libFuzzer harness: what a mailbox's receive and send read from the queue's shared memory
// (framework/src/ipc/mailbox.cpp: the slot index, each slot's length, the header's count and
// circular start, decoded under the queue's lock by take_locked/put_locked). The input queues a
// few messages, then overwrites bytes of the segment (never the mutex or the condition variables:
// a forged mutex makes the lock time out, which the kill tests cover) the way another process of
// the same user could, then receives (alternately one per lock and in single-receiver batches)
// and sends. Beyond "no crash" (AddressSanitizer watches every copy):
//  - every message received is at most max_message_size bytes, and never more of them than the
//    queue has slots (the contents are not checked: a stray write to a message's bytes is not
//    detectable, and not the mailbox's to detect);
//  - a mailbox found corrupt stays poisoned: a later send fails with errc::poisoned.
//
// Input: byte 0: messages to queue first (mod 9); byte 1: bit 0 single receiver; then patches of
// [where (2 bytes, little endian, an offset into the patchable part), length (1 byte, mod 9),
// bytes...] until the input ends.
//
// The seed corpus (corpus/mailbox/) is written by the harness itself:
//   PROCACTOR_FUZZ_WRITE_SEEDS=test/fuzz/corpus/mailbox build-fuzz/test/fuzz/fuzz_mailbox

#include "ipc/bip_lock.hpp"  // before message_queue.hpp (see there)

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/interprocess/ipc/message_queue.hpp>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "internal/wait.hpp"
#include "ipc/mailbox.hpp"
#include "ipc/names.hpp"
#include "procactor/errc.hpp"

namespace {

namespace ipc = procactor::ipc;
namespace bip = boost::interprocess;
using procactor_fuzz::require;
using mq_header = bip::ipcdetail::mq_hdr_t<bip::offset_ptr<void>>;

constexpr std::size_t cap = 8, max = 24;

// The byte ranges of the segment a patch may hit: the header's counts (not its mutex and
// condition variables), the index and the slots.
struct region {
  std::size_t at, size;
};

std::vector<region> patchable(const char* seg, const ipc::segment_layout& l) {
  const auto* h = reinterpret_cast<const mq_header*>(seg + l.header_at);
  auto off = [&](const void* p) { return static_cast<std::size_t>(static_cast<const char*>(p) - seg); };
  return {{l.header_at, off(&h->m_mutex) - l.header_at},  // mp_index, sizes, m_cur_num_msg
          {off(&h->m_cur_first_msg), 3 * sizeof(std::uint64_t)},
          {l.index_at, l.total_size - l.index_at}};
}

void run(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return;
  std::error_code ec;
  auto m = ipc::mailbox::create(ipc::make_base_name(), {cap, max}, ec);
  require(m != nullptr);
  const std::size_t queued = data[0] % 9;
  if (data[1] & 1) m->set_single_receiver();
  for (std::size_t i = 0; i < queued; ++i) {
    std::string msg(1 + i, static_cast<char>('a' + i));
    m->send(std::span<const char>(msg.data(), msg.size()), static_cast<unsigned>(i % 2), procactor::internal::try_only, ec);
    require(!ec);
  }
  const auto l = m->layout();
  const int fd = ::shm_open(("/" + m->name() + ".q").c_str(), O_RDWR, 0);
  require(fd >= 0);
  void* v = ::mmap(nullptr, l.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  require(v != MAP_FAILED);
  char* seg = static_cast<char*>(v);
  const auto parts = patchable(seg, l);
  std::size_t total = 0;
  for (const auto& p : parts) total += p.size;
  for (std::size_t i = 2; i + 3 <= size;) {
    std::size_t where = (static_cast<std::size_t>(data[i]) | static_cast<std::size_t>(data[i + 1]) << 8) % total;
    std::size_t len = data[i + 2] % 9;
    i += 3;
    for (std::size_t k = 0; k < len && i < size; ++k, ++i, ++where) {
      std::size_t w = where % total;
      for (const auto& p : parts) {
        if (w < p.size) {
          seg[p.at + w] = static_cast<char>(data[i]);
          break;
        }
        w -= p.size;
      }
    }
  }
  std::size_t got = 0;
  bool was_poisoned = false;
  for (int round = 0; round < 2 * static_cast<int>(cap) + 2; ++round) {
    auto msg = m->receive(procactor::internal::try_only, ec);
    if (ec) {
      if (ec == procactor::errc::poisoned) was_poisoned = true;
      break;
    }
    require(msg.size() <= max);
    ++got;
  }
  require(got <= cap);  // never more than the slots, whatever the counts say
  if (was_poisoned) require(m->poisoned());
  m->send(std::span<const char>("z", 1), 0, procactor::internal::try_only, ec);
  if (was_poisoned) require(ec == procactor::errc::poisoned);
  (void)m->stats();
  ::munmap(v, l.total_size);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = procactor_fuzz::seed_dir()) {
    using procactor_fuzz::write_seed;
    write_seed(dir, "nothing", std::string_view("\x00\x00", 2), "");
    write_seed(dir, "eight-queued", std::string_view("\x08\x00", 2), "");
    write_seed(dir, "eight-batched", std::string_view("\x08\x01", 2), "");
    write_seed(dir, "count-forged", std::string_view("\x03\x01", 2), std::string_view("\x18\x00\x08\xff\xff\x00\x00\x00\x00\x00\x00", 11));
    write_seed(dir, "slot-length-forged", std::string_view("\x04\x00", 2), std::string_view("\x60\x00\x08\xff\x00\x00\x00\x00\x00\x00\x00", 11));
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  run(data, size);
  return 0;
}
