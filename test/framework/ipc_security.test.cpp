// The ipc layer against other local users and against tampering: mailbox objects are created
// exclusively and privately, their names cannot be computed from what /dev/shm shows, and every
// open refuses an object that is not this user's private one (errc::foreign_object).
#include "ipc/mailbox.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "internal/wait.hpp"
#include "ipc/control_block.hpp"
#include "ipc/frame.hpp"
#include "ipc/names.hpp"
#include "procactor/detail/codec.hpp"
#include "procactor/gc.hpp"
#include "procactor/process.hpp"
#include "procactor/queue.hpp"
#include "procactor/supervisor.hpp"
#include "procactor/testing.hpp"
#include "support/leak_check.hpp"
#include "support/tree_prefix.hpp"

using namespace std::chrono_literals;
using procactor::errc;
using procactor::process;
namespace ipc = procactor::ipc;

namespace {

struct other_user {
  uid_t uid;
  gid_t gid;
};

// A second local user to play the other side (added with useradd if missing); nullopt when this
// process may not act as another user (not root).
std::optional<other_user> second_user() {
  if (::geteuid() != 0) return std::nullopt;
  const char* name = "procactor-probe";
  if (!::getpwnam(name)) {
    int rc = std::system("useradd --system --no-create-home --shell /usr/sbin/nologin procactor-probe >/dev/null 2>&1");
    (void)rc;
  }
  const passwd* pw = ::getpwnam(name);
  if (!pw) return std::nullopt;
  return other_user{pw->pw_uid, pw->pw_gid};
}

// Runs @p body in a child process as @p who (umask 0, so 0666 stays 0666); its exit code.
template <class Body>
int run_as(const other_user& who, Body body) {
  process p([who, body] {
    ::umask(0);
    if (::setgroups(0, nullptr) != 0 || ::setgid(who.gid) != 0 || ::setuid(who.uid) != 0) return 90;
    return body();
  });
  p.start();
  p.join();
  return p.status().exitcode().value_or(-1);
}

// What another user does to squat a name: makes the three objects with mode 0666.
int squat(const std::string& base) {
  const std::string dir = ipc::shm_dir;
  int fd = ::open((dir + "/" + base + ".ctl").c_str(), O_RDWR | O_CREAT | O_EXCL, 0666);
  if (fd < 0) return 91;
  if (::ftruncate(fd, 4096) != 0) return 92;
  ::close(fd);
  if (::mkfifo((dir + "/" + base + ".bell").c_str(), 0666) != 0) return 93;
  fd = ::open((dir + "/" + base + ".q").c_str(), O_RDWR | O_CREAT | O_EXCL, 0666);
  if (fd < 0) return 94;
  ::close(fd);
  return 0;
}

std::string shm(const std::string& base, const char* suffix) { return std::string(ipc::shm_dir) + "/" + base + suffix; }

bool private_and_ours(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & 077) == 0;
}

// Overwrites @p n bytes at @p offset of the shared-memory object @p path with bytes from @p rng.
void scribble(const std::string& path, std::size_t offset, std::size_t n, std::mt19937_64& rng) {
  std::vector<char> junk(n);
  for (auto& b : junk) b = static_cast<char>(rng());
  int fd = ::open(path.c_str(), O_RDWR);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(::pwrite(fd, junk.data(), n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n));
  ::close(fd);
}

template <class T>
void poke(const std::string& path, std::size_t offset, T value) {
  int fd = ::open(path.c_str(), O_RDWR);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(::pwrite(fd, &value, sizeof value, static_cast<off_t>(offset)) == static_cast<ssize_t>(sizeof value));
  ::close(fd);
}

class echo : public procactor::actor {
 public:
  echo() {
    on<int>([this](const int& n) { reply(n + 1); });
  }
};

// echo, and on "hold": says "holding" on @p ev, then waits for a token on @p gate (30 s at most),
// so that mail sent meanwhile stays in the queue's slots.
class holder : public procactor::actor {
 public:
  holder(procactor::queue<int>* ev, procactor::queue<int>* gate) {
    std::signal(SIGSEGV, SIG_DFL);  // a forged length stops at the guard page: not the test runner's handler
    on<int>([this](const int& n) { reply(n + 1); });
    on<std::string>([ev, gate](const std::string& cmd) {
      if (cmd != "hold") return;
      ev->put(1);
      std::error_code e;
      (void)gate->get(30s, e);
    });
  }
};

enum class corruption { control_block, queue_header, message_slots, huge_counters };

// A tree whose actor's mailbox is corrupted (by the same user) while it runs: the actor is not
// stalled (a request sent afterwards is answered within a deadline, after the supervisor found
// the corruption and recreated the mailbox), the lost figure stays within the capacity, the
// recreation is logged as a warning and no absurd figure is printed.
void corrupt_a_running_tree(corruption how, std::uint64_t seed) {
  // stderr of the tree's processes goes to a file, to check the figures they print
  char path[] = "/tmp/procactor-ipc-XXXXXX";
  int log = ::mkstemp(path);
  BOOST_REQUIRE(log >= 0);
  ::unlink(path);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(log, 2);
  {
    procactor::queue<int> ev(8), gate(8);
    procactor::supervisor_spec top;
    top.children = {procactor::child_spec::of<holder>("e", &ev, &gate).with_mailbox(8, 256)};
    auto t = procactor::tree::start("app", top);
    auto r = t.request<int>("e", 1, 5s);
    BOOST_TEST(r.value.value_or(0) == 2);
    const std::string prefix = procactor_test::the_tree_prefix();
    BOOST_REQUIRE(!prefix.empty());
    const std::string base = ipc::keyed_name(prefix, "/app/e");
    std::mt19937_64 rng(seed);
    std::error_code ec;
    auto view = ipc::mailbox::open(base, ec);  // for the layout only
    BOOST_REQUIRE_MESSAGE(view, ec.message() << " " << base);
    const auto l = view->layout();
    const std::size_t capacity = view->capacity();
    view->keep_names();
    view.reset();
    switch (how) {
      case corruption::control_block:
        scribble(shm(base, ".ctl"), 0, sizeof(ipc::control_block), rng);
        break;
      case corruption::queue_header:
        scribble(shm(base, ".q"), l.header_at, l.index_at - l.header_at, rng);
        break;
      case corruption::message_slots: {
        // three messages wait in their slots behind a handler that holds the actor
        t.send("e", std::string("hold"));
        BOOST_REQUIRE(ev.get(10s, ec).has_value());
        for (int i = 0; i < 3; ++i) t.send("e", 100 + i);
        scribble(shm(base, ".q"), l.messages_at, l.total_size - l.messages_at, rng);
        gate.put(1);
        break;
      }
      case corruption::huge_counters:
        for (std::size_t at : {offsetof(ipc::control_block, enqueued), offsetof(ipc::control_block, dequeued),
                               offsetof(ipc::control_block, handled), offsetof(ipc::control_block, lost)}) {
          poke<std::uint64_t>(shm(base, ".ctl"), at, 12446972692079683285ull - at);
        }
        break;
    }
    // The actor (or the next look at the mailbox) finds it, its supervisor recreates the mailbox;
    // requests work again.
    BOOST_TEST(procactor_test::wait_until(
        [&] {
          std::error_code e;
          auto s = t.stats("e", e);
          return !e && !s.poisoned && s.generation >= 1;
        },
        10s));
    r = t.request<int>("e", 5, 5s);
    BOOST_TEST(r.value.value_or(0) == 6, r.error.message() + " " + r.detail);
    const auto s = t.stats("e");
    BOOST_TEST(s.lost <= s.capacity, s.to_string());
    BOOST_TEST(s.capacity == capacity);
    t.stop();
    BOOST_TEST(t.join(10s).has_value());
  }
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string text(1 << 16, '\0');
  const ssize_t n = ::pread(log, text.data(), text.size(), 0);
  ::close(log);
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  BOOST_TEST_MESSAGE("the tree said: " << text);
  // no absurd figure: no run of 10 or more digits
  std::size_t run = 0, longest = 0;
  for (char c : text) {
    run = (c >= '0' && c <= '9') ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  BOOST_TEST(longest < 10u, text);
  BOOST_TEST(text.find("poisoned") != std::string::npos, text);  // the recreation was reported
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(ipc_security_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(siphash_matches_the_reference_vectors) {
  // SipHash-2-4 paper, appendix A: key 00..0f; message 00..0e (15 bytes); and the empty message.
  ipc::name_key k{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  std::string msg;
  for (char c = 0; c < 15; ++c) msg.push_back(c);
  BOOST_TEST(ipc::siphash24(k, msg) == 0xa129ca6149be45e5ull);
  BOOST_TEST(ipc::siphash24(k, "") == 0x726fdb47dd0e0e31ull);
  // 8-byte boundary: message 00..07
  BOOST_TEST(ipc::siphash24(k, msg.substr(0, 8)) == 0x93f5f5799a932462ull);
}

BOOST_AUTO_TEST_CASE(mailbox_names_depend_on_the_tree_key_not_only_on_the_path) {
  const std::string a = ipc::keyed_name("procactor.1-2.0123456789abcdef", "/app/pool/w-2");
  BOOST_TEST(a == ipc::keyed_name("procactor.1-2.0123456789abcdef", "/app/pool/w-2"));  // stable
  BOOST_TEST(a != ipc::keyed_name("procactor.1-2.0123456789abcdef", "/app/pool/w-3"));
  char unkeyed[24];
  std::snprintf(unkeyed, sizeof unkeyed, ".%016llx",
                static_cast<unsigned long long>(procactor::detail::fnv1a("/app/pool/w-2")));
  BOOST_TEST(a.find(unkeyed) == std::string::npos);  // not the old, computable name
  // another key (another run), another name
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(ipc::siphash24(ipc::name_key{1, 2}, "/app/pool/w-2")));
  BOOST_TEST(a.substr(a.size() - 16) != hex);
}

BOOST_AUTO_TEST_CASE(every_object_of_a_mailbox_is_created_private) {
  std::error_code ec;
  const std::string base = ipc::make_base_name();
  ::mode_t old = ::umask(0);  // a careless umask does not widen anything
  auto m = ipc::mailbox::create(base, {4, 64}, ec);
  ::umask(old);
  BOOST_REQUIRE(m);
  for (const char* sfx : {".ctl", ".bell", ".q"}) {
    struct stat st {};
    BOOST_REQUIRE(::lstat(shm(base, sfx).c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0600u, sfx);
    BOOST_TEST(st.st_uid == ::geteuid());
  }
  // and exclusively: a second create of the same name fails instead of adopting it
  auto again = ipc::mailbox::create(base, {4, 64}, ec);
  BOOST_TEST(!again);
  BOOST_TEST((ec == std::errc::file_exists));
  BOOST_TEST(::access(shm(base, ".ctl").c_str(), F_OK) == 0);  // the failed create removed nothing of ours
}

BOOST_AUTO_TEST_CASE(a_mailbox_squatted_by_another_user_is_refused_never_adopted) {
  auto who = second_user();
  if (!who) {
    BOOST_TEST_MESSAGE("skipped: acting as a second user needs root (and useradd)");
    return;
  }
  // The other user somehow knows the name (a leaked name: tree names cannot be computed, see
  // below) and makes the objects first, mode 0666: the attack that once read a supervisor's
  // stop message and stole a request.
  const std::string base = ipc::make_base_name();
  BOOST_REQUIRE(run_as(*who, [base] { return squat(base); }) == 0);
  std::error_code ec;
  auto m = ipc::mailbox::create_or_open(base, {4, 64}, ec);
  BOOST_TEST(!m);
  BOOST_TEST((ec == errc::foreign_object), ec.message());
  BOOST_TEST(ipc::refusal().find(shm(base, ".ctl")) != std::string::npos, ipc::refusal());
  BOOST_TEST(ipc::refusal().find("owned by uid " + std::to_string(who->uid)) != std::string::npos, ipc::refusal());
  BOOST_TEST(!ipc::mailbox::open(base, ec));
  BOOST_TEST((ec == errc::foreign_object));
  // the public queue refuses it too, and says what it refused
  BOOST_CHECK_EXCEPTION(procactor::queue<int>::open(base), std::system_error, [&](const std::system_error& e) {
    return e.code() == errc::foreign_object && std::string(e.what()).find(shm(base, ".ctl")) != std::string::npos;
  });
  // a real mailbox made by the other user (its own create), then opened up to 0666: refused too
  ipc::remove_mailbox(base);
  const std::string base2 = ipc::make_base_name();
  BOOST_REQUIRE(run_as(*who, [base2] {
                  std::error_code e;
                  auto theirs = ipc::mailbox::create(base2, {4, 64}, e);
                  if (!theirs) return 95;
                  theirs->keep_names();
                  for (const char* sfx : {".ctl", ".bell", ".q"}) ::chmod(shm(base2, sfx).c_str(), 0666);
                  return 0;
                }) == 0);
  BOOST_TEST(!ipc::mailbox::create_or_open(base2, {4, 64}, ec));
  BOOST_TEST((ec == errc::foreign_object));
  ipc::remove_mailbox(base2);
}

BOOST_AUTO_TEST_CASE(an_object_of_our_own_uid_that_others_may_open_is_refused) {
  for (const char* sfx : {".ctl", ".bell", ".q"}) {
    std::error_code ec;
    const std::string base = ipc::make_base_name();
    auto m = ipc::mailbox::create(base, {4, 64}, ec);
    BOOST_REQUIRE(m);
    BOOST_REQUIRE(::chmod(shm(base, sfx).c_str(), 0666) == 0);
    BOOST_TEST(!ipc::mailbox::open(base, ec), sfx);
    BOOST_TEST((ec == errc::foreign_object), sfx);
    BOOST_TEST(ipc::refusal().find("mode 0666") != std::string::npos, ipc::refusal());
    BOOST_TEST(!ipc::mailbox::create_or_open(base, {4, 64}, ec));
    BOOST_TEST((ec == errc::foreign_object));
  }
}

BOOST_AUTO_TEST_CASE(a_doorbell_that_is_not_a_fifo_or_is_a_symlink_is_refused) {
  std::error_code ec;
  const std::string base = ipc::make_base_name();
  auto m = ipc::mailbox::create(base, {4, 64}, ec);
  BOOST_REQUIRE(m);
  const std::string bell = shm(base, ".bell");
  BOOST_REQUIRE(::unlink(bell.c_str()) == 0);
  int fd = ::open(bell.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);  // a regular file, private, ours
  BOOST_REQUIRE(fd >= 0);
  ::close(fd);
  BOOST_TEST(!ipc::mailbox::open(base, ec));
  BOOST_TEST((ec == errc::foreign_object));
  BOOST_TEST(ipc::refusal().find("not a FIFO") != std::string::npos, ipc::refusal());
  BOOST_REQUIRE(::unlink(bell.c_str()) == 0);
  const std::string elsewhere = shm(ipc::make_base_name(), ".bell");
  BOOST_REQUIRE(::mkfifo(elsewhere.c_str(), 0600) == 0);
  BOOST_REQUIRE(::symlink(elsewhere.c_str(), bell.c_str()) == 0);
  BOOST_TEST(!ipc::mailbox::open(base, ec));
  BOOST_TEST((ec == errc::foreign_object));
  BOOST_TEST(ipc::refusal().find("symbolic link") != std::string::npos, ipc::refusal());
  ::unlink(elsewhere.c_str());
}

BOOST_AUTO_TEST_CASE(create_or_open_still_reopens_a_legitimate_survivor) {
  std::error_code ec;
  const std::string base = ipc::make_base_name();
  {
    auto first = ipc::mailbox::create(base, {4, 64}, ec);
    BOOST_REQUIRE(first);
    first->keep_names();  // its supervisor died: the mailbox and its mail survive
    first->send(std::span<const char>("kept", 4), 0, procactor::internal::try_only, ec);
    BOOST_REQUIRE(!ec);
  }
  auto again = ipc::mailbox::create_or_open(base, {4, 64}, ec);
  BOOST_REQUIRE(again);
  std::vector<char> buf;
  std::size_t n = again->receive(buf, procactor::internal::try_only, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(std::string(buf.data(), n) == "kept");
  again->remove();
}

BOOST_AUTO_TEST_CASE(a_tree_s_mailbox_names_cannot_be_precomputed_from_what_dev_shm_shows) {
  procactor::supervisor_spec pool;
  pool.strat = procactor::strategy::pool;
  pool.pool_size = 1;
  pool.children = {procactor::child_spec::of<echo>("w")};
  procactor::supervisor_spec top;
  top.children = {procactor::child_spec::nested("pool", pool)};
  auto t = procactor::tree::start("app", top);
  // What anyone can see: the tree's prefix, in /dev/shm.
  std::string prefix;
  const std::string mine = std::string(procactor::ipc_name_prefix) + std::to_string(::getpid()) + "-";
  for (const auto& n : procactor::list_ipc_objects()) {
    if (n.rfind(mine, 0) == 0) prefix = n.substr(0, n.find('.', n.find('.', mine.size()) + 1));
  }
  BOOST_REQUIRE(!prefix.empty());
  // The next pool member will be /app/pool/w-2: squat its name as the old scheme computed it.
  char h[24];
  std::snprintf(h, sizeof h, ".%016llx", static_cast<unsigned long long>(procactor::detail::fnv1a("/app/pool/w-2")));
  const std::string guessed = prefix + h;
  auto who = second_user();
  if (who) {
    BOOST_REQUIRE(run_as(*who, [guessed] { return squat(guessed); }) == 0);
  } else {
    BOOST_TEST_MESSAGE("not root: squatting as this user (mode 0666) instead of as a second user");
    ::mode_t old = ::umask(0);
    BOOST_REQUIRE(squat(guessed) == 0);
    ::umask(old);
  }
  const std::string added = t.start_child("pool");
  BOOST_TEST(added == "/app/pool/w-2");
  auto r = t.request<int>(added, 41, 5s);
  BOOST_TEST(r.value.value_or(0) == 42, r.error.message() + " " + r.detail);
  // Every object of the tree but the squatter's is ours and private; the squatter's are untouched.
  int ours = 0;
  for (const auto& n : procactor::list_ipc_objects()) {
    if (n.rfind(prefix + ".", 0) != 0 || n.rfind(guessed + ".", 0) == 0) continue;
    BOOST_TEST(private_and_ours(std::string(ipc::shm_dir) + "/" + n), n);
    ++ours;
  }
  BOOST_TEST(ours == 3 * 3 + 1);  // the client's, w-1's and w-2's mailboxes, and the tree's registry (no at-least-once actor: no dead-letter queue)
  t.stop();
  BOOST_TEST(t.join(10s).has_value());
  ipc::remove_mailbox(guessed);
}

BOOST_AUTO_TEST_CASE(the_frame_header_decoder_checks_every_field_before_a_length_is_trusted) {
  char h[ipc::frame_header_size];
  ipc::encode_frame_header(h, 10, 77);
  auto v = ipc::decode_frame_header(h, 10);
  BOOST_TEST((v.status == ipc::frame_status::ok));
  BOOST_TEST(v.length == 10u);
  BOOST_TEST(v.tag == 77u);
  BOOST_TEST((ipc::decode_frame_header(h, 9).status == ipc::frame_status::too_long));
  ipc::encode_frame_header(h, 0xffffffffu, 0);
  BOOST_TEST((ipc::decode_frame_header(h, std::size_t{64} << 20).status == ipc::frame_status::too_long));
  ipc::encode_frame_header(h, 1, 0);
  h[3] = 1;  // flags
  BOOST_TEST((ipc::decode_frame_header(h, 10).status == ipc::frame_status::bad_flags));
  h[2] = 2;  // version
  BOOST_TEST((ipc::decode_frame_header(h, 10).status == ipc::frame_status::bad_version));
  h[0] = 0;  // magic
  BOOST_TEST((ipc::decode_frame_header(h, 10).status == ipc::frame_status::bad_magic));
  BOOST_TEST(ipc::describe(ipc::decode_frame_header(h, 10), 10).find("bad magic") == 0u);
}

BOOST_AUTO_TEST_CASE(counters_read_from_shared_memory_give_bounded_figures) {
  ipc::counter_snapshot c;
  c.enqueued = 100;
  c.dequeued = 100;
  c.handled = 99;
  BOOST_TEST(ipc::counters_plausible(c, 8));
  BOOST_TEST(ipc::unaccounted(c, 8) == 1u);
  c.handled = 0;  // an actor that never counted: 100 unaccounted, reported as at most the capacity
  BOOST_TEST(ipc::unaccounted(c, 8) == 8u);
  c.dequeued = 12446972692079683285ull;  // the figure a corrupted .ctl once printed
  BOOST_TEST(!ipc::counters_plausible(c, 8));
  BOOST_TEST(ipc::unaccounted(c, 8) == 0u);
  c.dequeued = 100;
  c.high_water = 9;
  BOOST_TEST(!ipc::counters_plausible(c, 8));
  BOOST_TEST(ipc::bounded_depth(1025, 0, 1024) == 1024u);
  BOOST_TEST(ipc::bounded_depth(3, 5, 1024) == 0u);
  std::mt19937_64 rng(1);
  int passed = 0;
  for (int i = 0; i < 100000; ++i) {
    ipc::counter_snapshot r{rng(), rng(), rng(), rng(), rng(), static_cast<std::uint32_t>(rng()), static_cast<std::uint32_t>(rng())};
    passed += ipc::counters_plausible(r, 1024);
  }
  BOOST_TEST(passed == 0);
  // counters consistent with each other but near 2^64: no real mailbox got there
  ipc::counter_snapshot huge{12446972692079683285ull, 12446972692079683280ull, 12446972692079683280ull, 0, 0, 0, 0};
  BOOST_TEST(!ipc::counters_plausible(huge, 8));
  BOOST_TEST(ipc::unaccounted(huge, 8) == 0u);
}

BOOST_AUTO_TEST_CASE(random_bytes_over_the_control_block_poison_the_queue_instead_of_stalling_it) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 20; ++round) {
    procactor::queue<int> q(8);
    for (int i = 0; i < 3; ++i) q.put(i);
    scribble(shm(q.name(), ".ctl"), 0, sizeof(ipc::control_block), rng);
    if (round % 2) {  // flags that happen to read "healthy": only the integrity checks can tell
      poke<std::uint32_t>(shm(q.name(), ".ctl"), offsetof(ipc::control_block, poisoned), 0);
      poke<std::uint32_t>(shm(q.name(), ".ctl"), offsetof(ipc::control_block, closed), 0);
    }
    std::error_code ec;
    const auto t0 = std::chrono::steady_clock::now();
    (void)q.get(5s, ec);
    BOOST_TEST((ec == errc::poisoned), ec.message());
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s));  // at once, not at the deadline
    q.put(1, 1s, ec);
    BOOST_TEST((ec == errc::poisoned));
    const auto s = q.stats();
    BOOST_TEST(s.poisoned);
    BOOST_TEST(s.corrupted);
    BOOST_TEST(s.capacity == 8u);  // what this handle validated, not what the bytes say now
    BOOST_TEST(s.dequeued + s.enqueued + s.lost + s.high_water + s.depth == 0u, s.to_string());
    BOOST_TEST(!procactor::queue<int>::open(q.name(), ec).valid());
    BOOST_TEST((ec == errc::poisoned));
  }
}

BOOST_AUTO_TEST_CASE(random_bytes_over_the_queue_header_poison_the_mailbox) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::error_code ec;
    const std::string base = ipc::make_base_name();
    auto m = ipc::mailbox::create(base, {8, 64}, ec);
    BOOST_REQUIRE(m);
    m->send(std::span<const char>("abc", 3), 0, procactor::internal::try_only, ec);
    BOOST_REQUIRE(!ec);
    const auto l = m->layout();
    BOOST_TEST(l.index_at > l.header_at);
    scribble(shm(base, ".q"), 0, l.index_at, rng);  // Boost's word and the whole queue header
    BOOST_TEST(m->poisoned());
    std::vector<char> buf;
    (void)m->receive(buf, procactor::internal::deadline_after(5s), ec);
    BOOST_TEST((ec == errc::poisoned));
    m->send(std::span<const char>("abc", 3), 0, procactor::internal::try_only, ec);
    BOOST_TEST((ec == errc::poisoned));
    const auto t0 = std::chrono::steady_clock::now();
    BOOST_TEST(!ipc::mailbox::open(base, ec));  // never waits on Boost's initialisation word
    BOOST_TEST((ec == errc::poisoned));
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s));
    BOOST_TEST(m->account_lost_after_crash() == 0u);
    // its owner recreates it: create_or_open makes a fresh one in place of a corrupt survivor
    m->keep_names();
    m.reset();
    auto fresh = ipc::mailbox::create_or_open(base, {8, 64}, ec);
    BOOST_REQUIRE(fresh);
    BOOST_TEST(!fresh->poisoned());
    fresh->remove();
  }
}

BOOST_AUTO_TEST_CASE(a_corrupted_counter_alone_gives_no_absurd_lost_figure) {
  std::error_code ec;
  auto m = ipc::mailbox::create(ipc::make_base_name(), {8, 64}, ec);
  BOOST_REQUIRE(m);
  m->send(std::span<const char>("abc", 3), 0, procactor::internal::try_only, ec);
  BOOST_TEST(!m->poisoned());
  poke<std::uint64_t>(shm(m->name(), ".ctl"), offsetof(ipc::control_block, dequeued), 12446972692079683285ull);
  BOOST_TEST(m->account_lost_after_crash() == 0u);  // was 12446972692079683285 "message(s) lost"
  BOOST_TEST(m->poisoned());
  BOOST_TEST(m->stats().corrupted);
}

BOOST_AUTO_TEST_CASE(a_forged_message_length_cannot_overflow_the_receive_buffer) {
  std::error_code ec;
  auto m = ipc::mailbox::create(ipc::make_base_name(), {4, 64}, ec);
  BOOST_REQUIRE(m);
  m->send(std::span<const char>("abc", 3), 0, procactor::internal::try_only, ec);
  BOOST_REQUIRE(!ec);
  const auto l = m->layout();
  for (std::size_t i = 0; i < 4; ++i) {  // every slot claims one byte more than the maximum
    poke<std::uint64_t>(shm(m->name(), ".q"), l.messages_at + i * l.slot_size, 65);
  }
  // The receive in a child: it must not copy 65 bytes into a 64-byte buffer and carry on.
  process receiver([&] {
    std::signal(SIGSEGV, SIG_DFL);  // not the test runner's handler
    std::error_code e;
    std::vector<char> buf;
    std::size_t n = m->receive(buf, procactor::internal::try_only, e);
    if (e == errc::poisoned) return 3;
    return n > 64 ? 4 : 5;
  });
  receiver.start();
  receiver.join();
  const auto st = receiver.status();
  // refused before Boost copies anything (the length of the next message is checked first); a
  // length forged between that check and the copy would still stop at the guard page (SIGSEGV)
  BOOST_TEST((st.exitcode() == 3), st.to_string());
  // and the supervisor's look finds it too
  BOOST_TEST(m->account_lost_after_crash() == 0u);
  BOOST_TEST(m->poisoned());
}

BOOST_AUTO_TEST_CASE(a_tree_recreates_a_mailbox_whose_control_block_was_overwritten) {
  corrupt_a_running_tree(corruption::control_block, 3);
}

BOOST_AUTO_TEST_CASE(a_tree_recreates_a_mailbox_whose_queue_header_was_overwritten) {
  corrupt_a_running_tree(corruption::queue_header, 5);
}

BOOST_AUTO_TEST_CASE(a_tree_recreates_a_mailbox_whose_queued_messages_were_overwritten) {
  corrupt_a_running_tree(corruption::message_slots, 9);
}

BOOST_AUTO_TEST_CASE(a_tree_recreates_a_mailbox_whose_counters_were_set_to_huge_values) {
  corrupt_a_running_tree(corruption::huge_counters, 11);
}

// ---- A supervisor restarted after its predecessor died adopts its actor's mailbox ---------------

BOOST_AUTO_TEST_CASE(the_previous_receiver_is_waited_for_until_it_ended_and_a_reused_pid_never_is) {
  std::error_code ec;
  auto m = ipc::mailbox::create(ipc::make_base_name(), {8, 64}, ec);
  BOOST_REQUIRE(m);
  BOOST_TEST(m->wait_previous_receiver(procactor::internal::deadline_after(5s)));  // none recorded
  process receiver([]() -> int {
    for (;;) ::pause();
  });
  receiver.start();
  m->set_receiver(receiver.pid());
  const std::string ctl = shm(m->name(), ".ctl");
  const std::size_t at = offsetof(ipc::control_block, receiver_start);
  std::uint64_t start = 0;
  {
    int fd = ::open(ctl.c_str(), O_RDONLY);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(::pread(fd, &start, sizeof start, static_cast<off_t>(at)) == static_cast<ssize_t>(sizeof start));
    ::close(fd);
  }
  BOOST_TEST(start != 0u);
  // the same pid with another start time: a reused pid, another process: not waited for, not signalled
  poke<std::uint64_t>(ctl, at, start + 1);
  auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST(m->wait_previous_receiver(procactor::internal::deadline_after(5s)));
  BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s));
  BOOST_TEST(!receiver.join(0ms));  // still running
  // the recorded process itself: it is ended (it was doomed anyway) and waited for
  poke<std::uint64_t>(ctl, at, start);
  BOOST_TEST(m->wait_previous_receiver(procactor::internal::deadline_after(5s)));
  BOOST_TEST(receiver.join(0ms));  // ended before the wait returned
  BOOST_TEST(receiver.exitcode().value_or(0) == -SIGKILL);
}

BOOST_AUTO_TEST_CASE(reusing_a_parked_queue_with_a_forged_header_never_touches_boost_s_condition_variables) {
  // What a parked queue holds is emptied by reuse under the queue's lock: the header fields no
  // integrity check reads (Boost's waiter counts and condition variables) must play no part.
  using header = boost::interprocess::ipcdetail::mq_hdr_t<boost::interprocess::offset_ptr<void>>;
  std::error_code ec;
  auto m = ipc::mailbox::create(ipc::make_base_name(), {4, 64}, ec);
  BOOST_REQUIRE(m);
  for (const char* msg : {"abc", "de"}) {
    m->send(std::span<const char>(msg, std::strlen(msg)), 0, procactor::internal::try_only, ec);
    BOOST_REQUIRE(!ec);
  }
  m->close();
  const std::string pool = ipc::make_base_name() + "-pool";
  BOOST_REQUIRE(m->park(pool));
  const auto l = m->layout();
  {
    int fd = ::open(shm(pool, ".q").c_str(), O_RDWR);
    BOOST_REQUIRE(fd >= 0);
    void* v = ::mmap(nullptr, l.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    BOOST_REQUIRE(v != MAP_FAILED);
    auto* h = reinterpret_cast<header*>(static_cast<char*>(v) + l.header_at);
    h->m_blocked_senders = 1;  // "a sender waits": Boost's try_receive would signal m_cond_send
    std::memset(static_cast<void*>(&h->m_cond_send), 0xff, sizeof h->m_cond_send);
    ::munmap(v, l.total_size);
  }
  process reuser([&] {
    std::signal(SIGSEGV, SIG_DFL);  // not the test runner's handler
    std::error_code e;
    m->reuse(ipc::make_base_name(), e);
    if (e) return 3;
    const auto st = m->stats();
    std::error_code se;
    const bool ok = !st.poisoned && st.enqueued == 0 && m->size(se) == 0 && !se;
    m->remove();  // (a child ends without running destructors)
    return ok ? 0 : 4;
  });
  reuser.start();
  const bool ended = reuser.join(10s);
  if (!ended) {
    reuser.kill();
    reuser.join();
  }
  BOOST_TEST(ended);  // never hangs in Boost's notify on a forged condition variable
  BOOST_TEST((reuser.status().exitcode() == 0), reuser.status().to_string());
}

// A forked actor takes its mailbox from the supervisor's mappings (inherited_receiver) instead of
// opening it by name: it receives what was sent, its handle is a receiver's (its end removes no
// name), and the cheap checks still refuse a mailbox whose control block was tampered with.
BOOST_AUTO_TEST_CASE(a_forked_child_receives_through_its_inherited_mailbox_and_a_tampered_one_is_refused) {
  std::error_code ec;
  const std::string base = ipc::make_base_name();
  auto m = ipc::mailbox::create(base, {4, 64}, ec);
  BOOST_REQUIRE(m);
  m->send(std::span<const char>("hello", 5), 0, procactor::internal::try_only, ec);
  BOOST_REQUIRE(!ec);
  const ipc::mailbox* owner = m.get();
  procactor::process child([owner] {
    std::error_code e;
    auto mine = owner->inherited_receiver(e);
    if (!mine) return 10;
    if (mine->is_owner()) return 11;
    std::vector<char> buf;
    const std::size_t n = mine->receive(buf, procactor::internal::try_only, e);
    if (e || n != 5 || std::string(buf.data(), n) != "hello") return 12;
    mine.reset();  // a receiver's handle: the names stay
    return 0;
  });
  child.start();
  child.join();
  BOOST_TEST(child.status().code == 0, child.status().code);
  BOOST_TEST(static_cast<bool>(ipc::mailbox::open(base, ec)), ec.message());
  BOOST_TEST(m->stats().dequeued == 1u);

  poke<std::uint64_t>(shm(base, ".ctl"), offsetof(ipc::control_block, capacity), 5);
  procactor::process refused([owner] {
    std::error_code e;
    auto mine = owner->inherited_receiver(e);
    return !mine && e == errc::poisoned ? 0 : 20;
  });
  refused.start();
  refused.join();
  BOOST_TEST(refused.status().code == 0, refused.status().code);
}

// The deep check at open reads the index and the queued messages' slots, not every slot: a free
// slot's length is written by the send that fills it (so a forged one does no harm), and reading
// them all made every page of a queue resident in each process that opened it.
BOOST_AUTO_TEST_CASE(open_refuses_a_forged_length_in_a_queued_message_and_ignores_free_slots) {
  std::error_code ec;
  const std::string base = ipc::make_base_name();
  auto m = ipc::mailbox::create(base, {4, 64}, ec);
  BOOST_REQUIRE(m);
  const auto l = m->layout();
  auto forge_every_length = [&] {
    for (std::size_t i = 0; i < 4; ++i) poke<std::uint64_t>(shm(base, ".q"), l.messages_at + i * l.slot_size, 65);
  };
  forge_every_length();  // nothing queued: harmless
  auto view = ipc::mailbox::open(base, ec);
  BOOST_TEST_REQUIRE(static_cast<bool>(view), ec.message());
  m->send(std::span<const char>("abc", 3), 0, procactor::internal::try_only, ec);
  BOOST_REQUIRE(!ec);
  std::vector<char> buf;
  BOOST_TEST(view->receive(buf, procactor::internal::try_only, ec) == 3u);
  BOOST_TEST(!ec, ec.message());
  view->keep_names();
  view.reset();

  m->send(std::span<const char>("def", 3), 0, procactor::internal::try_only, ec);
  BOOST_REQUIRE(!ec);
  forge_every_length();  // the queued one too
  BOOST_TEST(!ipc::mailbox::open(base, ec));
  BOOST_TEST((ec == errc::poisoned), ec.message());
}

BOOST_AUTO_TEST_CASE(peek_stats_refuses_a_fifo_at_once_and_a_control_block_of_another_owner) {
  const std::string base = ipc::make_base_name();
  const std::string path = shm(base, ".ctl");
  BOOST_TEST_REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::error_code e;
    const auto s = ipc::peek_stats(base, e, true);
    ::_exit(!s && e ? 0 : 1);
  }
  int st = 0;
  const bool done = procactor::testing::wait_until([&] { return ::waitpid(pid, &st, WNOHANG) == pid; }, std::chrono::seconds(5));
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
  }
  ::unlink(path.c_str());
  BOOST_TEST_REQUIRE(done, "peek_stats blocked on the FIFO");
  BOOST_TEST((WIFEXITED(st) && WEXITSTATUS(st) == 0));
  // a real control block of ours: read, unless another owner was expected
  std::error_code ec;
  auto m = ipc::mailbox::create(base, {4, 64}, ec);
  BOOST_TEST_REQUIRE(!!m);
  BOOST_TEST(!!ipc::peek_stats(base, ec, true, ::geteuid()));
  BOOST_TEST(!ipc::peek_stats(base, ec, true, ::geteuid() + 1));
  BOOST_TEST((ec == procactor::errc::foreign_object));
}

BOOST_AUTO_TEST_CASE(peek_stats_of_a_control_block_that_shrinks_and_regrows_reads_whole_or_fails_never_a_signal) {
  std::error_code ec;
  const std::string base = ipc::make_base_name();
  auto m = ipc::mailbox::create(base, {4, 64}, ec);
  BOOST_TEST_REQUIRE(!!m);
  struct stat sb {};
  BOOST_TEST_REQUIRE(::stat(shm(base, ".ctl").c_str(), &sb) == 0);
  std::vector<char> bytes(static_cast<std::size_t>(sb.st_size));
  {
    const int fd = ::open(shm(base, ".ctl").c_str(), O_RDONLY);
    BOOST_TEST_REQUIRE(::pread(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  const pid_t flipper = ::fork();
  if (flipper == 0) {
    const int fd = ::open(shm(base, ".ctl").c_str(), O_RDWR);
    for (;;) {
      if (::ftruncate(fd, 0) != 0 || ::ftruncate(fd, static_cast<off_t>(bytes.size())) != 0) ::_exit(2);
      if (::pwrite(fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) ::_exit(2);
    }
  }
  const pid_t reader = ::fork();
  if (reader == 0) {
    ::signal(SIGBUS, SIG_DFL);  // a signal ends the child (not caught by Boost.Test there)
    ::signal(SIGSEGV, SIG_DFL);
    for (int r = 0; r < 20000; ++r) {
      std::error_code e;
      const auto s = ipc::peek_stats(base, e);
      if (s && s->capacity != 4) ::_exit(3);  // read: then whole
    }
    ::_exit(0);
  }
  int st = 0;
  const bool done = procactor::testing::wait_until([&] { return ::waitpid(reader, &st, WNOHANG) == reader; }, std::chrono::seconds(60));
  if (!done) {
    ::kill(reader, SIGKILL);
    ::waitpid(reader, &st, 0);
  }
  ::kill(flipper, SIGKILL);
  ::waitpid(flipper, nullptr, 0);
  {  // whole again for the mailbox (it still maps it)
    const int fd = ::open(shm(base, ".ctl").c_str(), O_RDWR);
    BOOST_TEST_REQUIRE(::ftruncate(fd, static_cast<off_t>(bytes.size())) == 0);
    BOOST_TEST_REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  BOOST_TEST_REQUIRE(done);
  BOOST_TEST(!WIFSIGNALED(st), "the reader died of signal " << (WIFSIGNALED(st) ? WTERMSIG(st) : 0));
  BOOST_TEST((WIFEXITED(st) && WEXITSTATUS(st) == 0));
}

BOOST_AUTO_TEST_SUITE_END()
