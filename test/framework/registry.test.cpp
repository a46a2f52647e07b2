// The live registry of a tree (registry/registry.hpp): what a publisher writes, a reader reads
// back whole; a reader racing a writer in another process never sees a torn entry; a writer that
// died mid-write shows as torn until rewritten; foreign or corrupt objects are refused.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <chrono>
#include <ostream>
#include <optional>
#include <string>
#include <vector>

#include "ipc/names.hpp"
#include "procactor/errc.hpp"
#include "procactor/testing.hpp"
#include "registry/registry.hpp"
#include "support/leak_check.hpp"

namespace procactor::registry {  // printable in assertions
std::ostream& operator<<(std::ostream& o, node_kind k) { return o << to_string(k); }
std::ostream& operator<<(std::ostream& o, node_state s) { return o << to_string(s); }
std::ostream& operator<<(std::ostream& o, event_kind k) { return o << to_string(k); }
}  // namespace procactor::registry

namespace reg = procactor::registry;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<reg::publisher> make(std::uint32_t capacity = 16) {
  std::error_code ec;
  auto p = reg::publisher::create(procactor::ipc::make_base_name(), "demo_tree", capacity, ec);
  BOOST_TEST_REQUIRE(!ec, ec.message());
  return p;
}

reg::node_fields fields(const std::string& path, pid_t pid, std::uint64_t restarts) {
  reg::node_fields f;
  f.path = path;
  f.kind = reg::node_kind::actor;
  f.state = reg::node_state::running;
  f.method = "fork";
  f.pid = pid;
  f.incarnation = restarts + 1;
  f.restarts = restarts;
  f.mailbox = "procactor.1-2.mailbox" + std::to_string(restarts);
  f.last_exit = restarts ? "crashed (signal " + std::to_string(restarts) + ")" : "";
  return f;
}

reg::snapshot read_ok(const reg::publisher& p) {
  std::error_code ec;
  auto s = reg::read(p.name(), ec);
  BOOST_TEST_REQUIRE(!!s, ec.message());
  return *s;
}

// Maps a registry object read-write (to play a writer that died, or a stranger).
struct raw_map {
  explicit raw_map(const std::string& name) {
    int fd = ::shm_open(("/" + name).c_str(), O_RDWR, 0);
    struct stat sb {};
    ::fstat(fd, &sb);
    size = static_cast<std::size_t>(sb.st_size);
    base = static_cast<char*>(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    ::close(fd);
  }
  ~raw_map() { ::munmap(base, size); }
  char* base;
  std::size_t size = 0;
};

constexpr std::size_t header_size = 4096, node_size = 384;

// Runs @p body in a forked child and waits for it up to @p deadline (the child is killed then): the
// exit status, or nullopt when it did not end in time. A reader that hangs or dies on a signal
// cannot take the test process with it.
template <class F>
std::optional<int> in_child(F body, std::chrono::milliseconds deadline) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGBUS, SIG_DFL);  // a signal ends the child (not caught by Boost.Test there)
    ::signal(SIGSEGV, SIG_DFL);
    ::_exit(body());
  }
  int st = 0;
  const bool done = procactor::testing::wait_until([&] { return ::waitpid(pid, &st, WNOHANG) == pid; }, deadline);
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
    return std::nullopt;
  }
  return st;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(registry_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(what_a_publisher_writes_is_read_back_whole) {
  auto p = make();
  p->set_root(::getpid());
  const int a = p->claim("/app"), b = p->claim("/app/w1");
  BOOST_TEST(a == 0);
  BOOST_TEST(b == 1);
  auto fa = fields("/app", ::getpid(), 0);
  fa.kind = reg::node_kind::supervisor;
  fa.mailbox.clear();
  p->write(a, fa);
  p->write(b, fields("/app/w1", 4242, 3));
  p->post(reg::event_kind::restarted, "/app/w1", "crashed (signal 9)");

  const auto s = read_ok(*p);
  BOOST_TEST(s.name == "demo_tree");
  BOOST_TEST(s.root_pid == ::getpid());
  BOOST_TEST(s.root_alive());
  BOOST_TEST(s.owner_alive());
  BOOST_TEST(s.uid == ::geteuid());
  BOOST_TEST_REQUIRE(s.nodes.size() == 2u);
  BOOST_TEST(s.nodes[0].path == "/app");
  BOOST_TEST(s.nodes[0].kind == reg::node_kind::supervisor);
  BOOST_TEST(s.nodes[1].path == "/app/w1");
  BOOST_TEST(s.nodes[1].pid == 4242);
  BOOST_TEST(s.nodes[1].restarts == 3u);
  BOOST_TEST(s.nodes[1].incarnation == 4u);
  BOOST_TEST(s.nodes[1].mailbox == "procactor.1-2.mailbox3");
  BOOST_TEST(s.nodes[1].last_exit == "crashed (signal 3)");
  BOOST_TEST(s.nodes[1].state == reg::node_state::running);
  BOOST_TEST(!s.nodes[1].torn);
  BOOST_TEST_REQUIRE(s.events.size() == 1u);
  BOOST_TEST(s.events[0].kind == reg::event_kind::restarted);
  BOOST_TEST(s.events[0].detail == "crashed (signal 9)");
}

BOOST_AUTO_TEST_CASE(a_claimed_slot_shows_as_starting_and_long_strings_are_cut) {
  auto p = make();
  p->claim("/app");
  {
    const auto s = read_ok(*p);
    BOOST_TEST_REQUIRE(s.nodes.size() == 1u);
    BOOST_TEST(s.nodes[0].path == "/app");
    BOOST_TEST(s.nodes[0].state == reg::node_state::starting);
  }
  const std::string longp = "/app/" + std::string(300, 'x');
  p->write(0, fields(longp, 1, 0));
  const auto s = read_ok(*p);
  BOOST_TEST_REQUIRE(s.nodes.size() == 1u);
  BOOST_TEST(s.nodes[0].path.size() == reg::path_max);
  BOOST_TEST(s.nodes[0].path.back() == '~');
}

BOOST_AUTO_TEST_CASE(a_restarted_supervisor_adopts_the_entry_of_its_path) {
  auto p = make();
  p->claim("/app");
  const int w = p->claim("/app/w1");
  p->write(w, fields("/app/w1", 10, 0));
  BOOST_TEST(p->claim("/app/w1") == w);
  BOOST_TEST(p->claim("/app/w2") == 2);
  BOOST_TEST(p->claim("/app") == 0);
}

BOOST_AUTO_TEST_CASE(ten_thousand_paths_each_find_their_own_slot_again) {
  auto p = make(10100);
  for (int i = 0; i < 10000; ++i) BOOST_TEST_REQUIRE(p->claim("/scale/s" + std::to_string(i / 100) + "/a" + std::to_string(i)) == i);
  for (int i = 9999; i >= 0; i -= 7) BOOST_TEST_REQUIRE(p->claim("/scale/s" + std::to_string(i / 100) + "/a" + std::to_string(i)) == i);
  BOOST_TEST(read_ok(*p).nodes.size() == 10000u);
}

BOOST_AUTO_TEST_CASE(a_full_table_refuses_claims_and_counts_them) {
  auto p = make(2);
  BOOST_TEST(p->claim("/a") == 0);
  BOOST_TEST(p->claim("/a/b") == 1);
  BOOST_TEST(p->claim("/a/c") == -1);
  BOOST_TEST(p->claim("/a/d") == -1);
  p->write(-1, fields("/a/c", 1, 0));  // no-op
  BOOST_TEST(read_ok(*p).dropped == 2u);
}

BOOST_AUTO_TEST_CASE(the_event_ring_keeps_the_newest_events_in_order) {
  auto p = make();
  for (int i = 0; i < 1500; ++i) p->post(reg::event_kind::exited, "/app/w" + std::to_string(i), "normal");
  const auto s = read_ok(*p);
  BOOST_TEST_REQUIRE(s.events.size() == 1024u);
  BOOST_TEST(s.events.front().path == "/app/w476");
  BOOST_TEST(s.events.back().path == "/app/w1499");
  for (std::size_t i = 1; i < s.events.size(); ++i) BOOST_TEST_REQUIRE(s.events[i].seq == s.events[i - 1].seq + 1);
}

BOOST_AUTO_TEST_CASE(a_reader_racing_a_writer_in_another_process_never_sees_a_torn_entry) {
  auto p = make();
  const int slot = p->claim("/app/w");
  p->write(slot, fields("/app/w", 1, 1));
  pid_t writer = ::fork();
  if (writer == 0) {
    for (std::uint64_t i = 0;; ++i) {  // two consistent versions, alternately, until killed
      p->write(slot, (i & 1) ? fields("/app/w", 1, 1) : fields("/app/w-other-name", 2, 2));
    }
  }
  BOOST_TEST_REQUIRE(writer > 0);
  int seen[3] = {0, 0, 0};
  bool consistent = true;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((seen[1] < 200 || seen[2] < 200) && std::chrono::steady_clock::now() < deadline && consistent) {
    const auto s = read_ok(*p);
    if (s.nodes.size() != 1u || s.nodes[0].torn) continue;  // gave up on a busy entry: never a mix
    const auto& n = s.nodes[0];
    const auto want = fields(n.restarts == 1 ? "/app/w" : "/app/w-other-name", n.restarts == 1 ? 1 : 2, n.restarts);
    consistent = (n.restarts == 1 || n.restarts == 2) && n.path == want.path && n.pid == want.pid &&
                 n.mailbox == want.mailbox && n.last_exit == want.last_exit && n.incarnation == want.incarnation;
    if (consistent) ++seen[n.restarts];
  }
  ::kill(writer, SIGKILL);
  ::waitpid(writer, nullptr, 0);
  BOOST_TEST(consistent);
  BOOST_TEST(seen[1] >= 200);
  BOOST_TEST(seen[2] >= 200);
}

BOOST_AUTO_TEST_CASE(a_writer_that_died_mid_write_shows_torn_until_the_entry_is_rewritten) {
  auto p = make();
  const int slot = p->claim("/app/w");
  p->write(slot, fields("/app/w", 7, 0));
  {
    raw_map m(p->name());
    auto* seq = reinterpret_cast<std::atomic<std::uint32_t>*>(m.base + header_size + static_cast<std::size_t>(slot) * node_size);
    seq->fetch_add(1);  // odd: a write begun and never finished
  }
  auto s = read_ok(*p);
  BOOST_TEST_REQUIRE(s.nodes.size() == 1u);
  BOOST_TEST(s.nodes[0].torn);
  p->write(slot, fields("/app/w", 8, 1));  // the next incarnation's supervisor rewrites it
  s = read_ok(*p);
  BOOST_TEST(!s.nodes[0].torn);
  BOOST_TEST(s.nodes[0].pid == 8);
}

BOOST_AUTO_TEST_CASE(objects_that_are_not_ours_are_refused) {
  auto p = make();
  std::error_code ec;
  BOOST_TEST(!reg::read("procactor.1-2.nope.reg", ec));
  BOOST_TEST(ec == procactor::errc::no_such_object);
  BOOST_TEST(!reg::read("../etc/passwd.reg", ec));
  BOOST_TEST(ec == procactor::errc::invalid_argument);
  {
    raw_map m(p->name());
    reinterpret_cast<std::atomic<std::uint64_t>*>(m.base)->store(0x1234);  // not our magic
  }
  BOOST_TEST(!reg::read(p->name(), ec));
  BOOST_TEST(ec == procactor::errc::poisoned);
  const std::string path = std::string(procactor::ipc::shm_dir) + "/" + p->name();
  ::chmod(path.c_str(), 0644);
  BOOST_TEST(!reg::read(p->name(), ec));
  BOOST_TEST(ec == procactor::errc::foreign_object);
}

BOOST_AUTO_TEST_CASE(list_shows_the_live_registries_of_this_user_and_the_creator_removes_its_own) {
  std::string name;
  {
    auto p = make();
    name = p->name();
    const auto l = reg::list();
    BOOST_TEST((std::find(l.begin(), l.end(), name) != l.end()));
  }
  const auto l = reg::list();
  BOOST_TEST((std::find(l.begin(), l.end(), name) == l.end()));
}

BOOST_AUTO_TEST_CASE(a_fifo_named_like_a_registry_is_refused_at_once_instead_of_blocking_the_reader) {
  const std::string name = procactor::ipc::make_base_name() + ".reg";
  const std::string path = std::string(procactor::ipc::shm_dir) + "/" + name;
  BOOST_TEST_REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  const auto st = in_child(
      [&] {
        std::error_code ec;
        const auto s = reg::read(name, ec, true);  // as root's --all-users would
        return !s && ec == procactor::errc::foreign_object ? 0 : 1;
      },
      5s);
  ::unlink(path.c_str());
  BOOST_TEST_REQUIRE(st.has_value(), "the reader blocked on the FIFO");
  BOOST_TEST((WIFEXITED(*st) && WEXITSTATUS(*st) == 0));
}

BOOST_AUTO_TEST_CASE(a_registry_that_shrinks_and_regrows_while_read_reads_whole_or_fails_never_a_signal) {
  auto p = make(64);
  for (int i = 0; i < 40; ++i) p->write(p->claim("/app/w" + std::to_string(i)), fields("/app/w" + std::to_string(i), 1000 + i, 0));
  for (int i = 0; i < 40; ++i) p->post(reg::event_kind::started, "/app/w" + std::to_string(i), "");
  // a stranger flips the object between one page and its full size, restoring its bytes each time
  std::vector<char> bytes;
  {
    raw_map m(p->name());
    bytes.assign(m.base, m.base + m.size);
  }
  const pid_t flipper = ::fork();
  if (flipper == 0) {
    const int fd = ::shm_open(("/" + p->name()).c_str(), O_RDWR, 0);
    for (;;) {
      if (::ftruncate(fd, static_cast<off_t>(header_size)) != 0) ::_exit(2);
      if (::ftruncate(fd, static_cast<off_t>(bytes.size())) != 0) ::_exit(2);
      if (::pwrite(fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) ::_exit(2);
    }
  }
  const auto st = in_child(
      [&] {
        for (int r = 0; r < 3000; ++r) {
          std::error_code ec;
          const auto s = reg::read(p->name(), ec);
          if (!s) continue;  // an error is fine
          for (const auto& n : s->nodes) {  // what is read is ours, whole
            if (n.torn || n.path.rfind("/app/w", 0) != 0 || n.pid != 1000 + std::stoi(n.path.substr(6))) return 3;
          }
        }
        return 0;
      },
      60s);
  ::kill(flipper, SIGKILL);
  ::waitpid(flipper, nullptr, 0);
  {  // whole again for the publisher (it still maps it)
    const int fd = ::shm_open(("/" + p->name()).c_str(), O_RDWR, 0);
    BOOST_TEST_REQUIRE(::ftruncate(fd, static_cast<off_t>(bytes.size())) == 0);
    BOOST_TEST_REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  BOOST_TEST(read_ok(*p).nodes.size() == 40u);
  BOOST_TEST_REQUIRE(st.has_value());
  BOOST_TEST(!WIFSIGNALED(*st), "the reader died of signal " << (WIFSIGNALED(*st) ? WTERMSIG(*st) : 0));
  BOOST_TEST((WIFEXITED(*st) && WEXITSTATUS(*st) == 0));
}

BOOST_AUTO_TEST_CASE(an_entry_abandoned_between_claim_and_index_is_not_shown_next_to_its_successor) {
  const std::uint32_t cap = 16;
  auto p = make(cap);
  const int orphan = p->claim("/app/x");
  {  // its claimer died before publishing it in the path index: the index entry is not there
    raw_map m(p->name());
    auto* index = reinterpret_cast<std::uint32_t*>(m.base + header_size + cap * node_size);
    for (std::uint32_t i = 0; i < 32; ++i) {
      if (index[i] == static_cast<std::uint32_t>(orphan) + 1) index[i] = 0;
    }
  }
  const int again = p->claim("/app/x");
  BOOST_TEST_REQUIRE(again != orphan);
  p->write(again, fields("/app/x", 4242, 1));
  const auto s = read_ok(*p);
  BOOST_TEST_REQUIRE(s.nodes.size() == 1u);
  BOOST_TEST(s.nodes[0].pid == 4242);
  BOOST_TEST(s.nodes[0].index == again);
}

BOOST_AUTO_TEST_SUITE_END()
