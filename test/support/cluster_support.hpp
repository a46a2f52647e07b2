#pragma once
// What the cluster suites share: why a case is skipped without NATS, the options of a node of a
// test's own cluster, and a node's view of another (test/framework/cluster*.test.cpp).

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <system_error>

#include "procactor/cluster.hpp"
#include "support/nats_server.hpp"

namespace procactor_test {

/// Why a test that needs a NATS server is skipped (empty: it runs).
inline std::string why_no_nats() {
  if (!procactor::cluster::available()) return "procactor was built without NATS (PROCACTOR_WITH_NATS=OFF)";
  if (!nats_server::found()) return "nats-server is not installed (PATH, PROCACTOR_NATS_SERVER)";
  return {};
}

/// A Boost.Test precondition that skips a case with the reason @p Why gives (runs it on "").
template <std::string (*Why)()>
struct skip_with_reason {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    const std::string why = Why();
    boost::test_tools::assertion_result r(why.empty());
    if (!why.empty()) r.message() << why;
    return r;
  }
};
using nats_precondition = skip_with_reason<&why_no_nats>;

/// Node @p node of a cluster of this test process's own (named @p prefix and the pid, so that
/// suites run at once never share one) on @p srv.
inline procactor::cluster_options node_options(const nats_server& srv, std::string node, const std::string& prefix) {
  procactor::cluster_options o;
  o.url = srv.url();
  o.cluster = prefix + std::to_string(::getpid());
  o.node = std::move(node);
  return o;
}

/// What node @p n's gateway knows of @p who (nullopt: never seen, or no answer within 2 s).
inline std::optional<procactor::cluster::member> member_of(procactor::cluster::node& n, const std::string& who) {
  std::error_code ec;
  for (auto& m : n.members(std::chrono::seconds(2), ec)) {
    if (m.node == who) return m;
  }
  return std::nullopt;
}

/// True if node @p n's gateway has @p who up.
inline bool sees_up(procactor::cluster::node& n, const std::string& who) {
  auto m = member_of(n, who);
  return m && m->up;
}

}  // namespace procactor_test
