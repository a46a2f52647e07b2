#include "procactor/response_promise.hpp"

#include <boost/test/unit_test.hpp>
#include <optional>
#include <string>
#include <vector>

#include "procactor/supervisor.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using procactor::actor;
using procactor::child_spec;
using procactor::errc;
using procactor::response_promise;
using procactor::supervisor_spec;
using procactor::tree;

namespace {

struct question {
  int n;
};
struct answer {
  int n;
};
struct drop_it {
  int unused;
};
struct answer_twice {
  int unused;
};
struct later {
  int n;
};
struct gather {
  int parts;
};

// The backend answers questions (a handler that returns its reply).
class backend : public actor {
 public:
  backend() {
    on<question>([](const question& q) { return answer{q.n * 2}; });
  }
};

// A proxy: asks the backend and answers its own caller from the request callback (a deferred
// reply), answers from a timer, drops a promise, or gathers several answers into one.
class proxy : public actor {
 public:
  proxy() {
    on<question>([this](const question& q) {
      auto rp = make_response_promise<answer>();
      request<answer>("backend", q, 10s, [rp](procactor::result<answer> r) mutable {
        if (r) {
          rp.deliver(answer{r.value->n + 1});
        } else {
          rp.fail(r.error.value() == static_cast<int>(errc::died) ? errc::died : errc::timed_out, r.detail);
        }
      });
      return rp;  // returning the promise: no reply now
    });
    on<drop_it>([this](const drop_it&) { (void)make_response_promise<answer>(); });  // dropped at once
    on<answer_twice>([this](const answer_twice&) {
      auto rp = make_response_promise<answer>();
      const bool first = rp.deliver(answer{1});
      const bool second = rp.deliver(answer{2});
      twice_ = std::string(first ? "first sent" : "first refused") + (second ? ", second sent" : ", second refused") +
               (rp.pending() ? ", pending" : ", answered");
    });
    on<int>([this](const int&) { return twice_; });
    on<later>([this](const later& l) {
      waiting_ = make_response_promise<answer>();
      after(std::chrono::milliseconds(l.n), std::string("now"));
    });
    on<std::string>([this](const std::string&) {
      if (waiting_) waiting_->deliver(answer{7});
      waiting_.reset();
    });
    on<gather>([this](const gather& g) {
      auto rp = make_response_promise<answer>();
      auto sum = std::make_shared<int>(0);
      auto left = std::make_shared<int>(g.parts);
      for (int i = 1; i <= g.parts; ++i) {
        request<answer>("backend", question{i}, 10s, [rp, sum, left](procactor::result<answer> r) mutable {
          *sum += r ? r.value->n : -1000;
          if (--*left == 0) rp.deliver(answer{*sum});
        });
      }
    });
  }

 private:
  std::optional<response_promise<answer>> waiting_;
  std::string twice_;
};

supervisor_spec proxy_tree() {
  supervisor_spec sp;
  sp.children = {child_spec::of<backend>("backend"), child_spec::of<proxy>("proxy")};
  return sp;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(response_promise_test, procactor_test::leak_check)

BOOST_AUTO_TEST_CASE(a_promise_delivered_from_a_request_callback_answers_the_original_caller) {
  auto t = tree::start("app", proxy_tree());
  auto r = t.request<answer>("proxy", question{20}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message() << " " << r.detail);
  BOOST_TEST(r.value->n == 41);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_promise_gathers_several_answers_into_one_reply) {
  auto t = tree::start("app", proxy_tree());
  auto r = t.request<answer>("proxy", gather{4}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message() << " " << r.detail);
  BOOST_TEST(r.value->n == 2 * (1 + 2 + 3 + 4));
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_dropped_promise_fails_the_caller_with_broken_promise_at_once) {
  auto t = tree::start("app", proxy_tree());
  auto r = t.request<answer>("proxy", drop_it{0}, 60s);  // a timeout would say timed_out
  BOOST_TEST((r.error == errc::broken_promise), r.error.message());
  BOOST_TEST(r.detail.find("/app/proxy dropped") != std::string::npos, r.detail);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(only_the_first_delivery_counts) {
  auto t = tree::start("app", proxy_tree());
  auto r = t.request<answer>("proxy", answer_twice{0}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message());
  BOOST_TEST(r.value->n == 1);
  auto how = t.request<std::string>("proxy", 0, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(how), how.error.message());
  BOOST_TEST(*how.value == "first sent, second refused, answered");
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_CASE(a_promise_kept_in_the_actor_is_delivered_from_a_timer) {
  auto t = tree::start("app", proxy_tree());
  auto r = t.request<answer>("proxy", later{30}, 10s);
  BOOST_TEST_REQUIRE(static_cast<bool>(r), r.error.message());
  BOOST_TEST(r.value->n == 7);
  t.stop();
  t.join();
}

BOOST_AUTO_TEST_SUITE_END()
