// The ipc layer against other local users and against tampering: mailbox objects are created
// exclusively and privately, their names cannot be computed from what /dev/shm shows, and every
// open refuses an object that is not this user's private one (errc::foreign_object).
#include "ipc/mailbox.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "internal/wait.hpp"
#include "ipc/names.hpp"
#include "procactor/detail/codec.hpp"
#include "procactor/gc.hpp"
#include "procactor/process.hpp"
#include "procactor/queue.hpp"
#include "procactor/supervisor.hpp"
#include "support/leak_check.hpp"

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

class echo : public procactor::actor {
 public:
  echo() {
    on<int>([this](const int& n) { reply(n + 1); });
  }
};

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
  BOOST_TEST(ours == 3 * 3);  // the client's, w-1's and w-2's mailboxes
  t.stop();
  BOOST_TEST(t.join(10s).has_value());
  ipc::remove_mailbox(guessed);
}

BOOST_AUTO_TEST_SUITE_END()
