#pragma once
// How every message_queue of procactor takes its lock: a specialisation of a Boost.Interprocess
// internal (boost::interprocess::ipcdetail::timeout_when_locking_aware_lock<posix_mutex>).
//
// Every lock of a queue's mutex is bounded (BOOST_INTERPROCESS_ENABLE_TIMEOUT_WHEN_LOCKING, see
// framework/CMakeLists.txt), but Boost computes the deadline with gettimeofday and takes the
// timed-lock path on every call, which halves the queue's throughput. This specialisation spins
// on try_lock briefly and pays for the bounded wait only when the lock stays contended.
//
// It must be seen BEFORE <boost/interprocess/ipc/message_queue.hpp> is included (before
// message_queue's lock calls are instantiated): a specialisation declared after the primary
// template's first use is ill-formed (no diagnostic required) and in practice silently ignored,
// leaving the slow generic path. Include this header first in the one translation unit that uses
// message_queue (ipc/mailbox.cpp) and nowhere else.
//
// It names a Boost-internal function, whose signature and semantics may change in any release:
// it is pinned to the one Boost version it was written and measured against. So are the integrity
// checks of ipc/mailbox.cpp, which read message_queue's segment layout (mq_hdr_t, msg_hdr_t,
// managed_open_or_create_impl's initialisation word).

#include <boost/version.hpp>

#if BOOST_VERSION != 108100
#error "procactor: ipc/bip_lock.hpp specialises boost::interprocess::ipcdetail::timeout_when_locking_aware_lock, a Boost 1.81 internal; re-check it and the message_queue layout read by ipc/mailbox.cpp's integrity checks against this Boost version, then update the version pinned here"
#endif

#ifdef BOOST_INTERPROCESS_MESSAGE_QUEUE_HPP
#error "procactor: ipc/bip_lock.hpp must be included before <boost/interprocess/ipc/message_queue.hpp>"
#endif

#include <boost/interprocess/detail/workaround.hpp>
#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/sync/detail/common_algorithms.hpp>
#include <boost/interprocess/sync/posix/mutex.hpp>

#include "ipc/cpu_relax.hpp"

#include <pthread.h>

namespace procactor::ipc {
// The word glibc's mutex keeps its owner in (0: free), read without writing: spinning with
// try_lock alone would take the line away from the owner at every attempt (a failed
// compare-and-swap still needs it exclusive), so the owner's unlock would miss it in turn.
// posix_mutex is exactly a pthread_mutex_t (Boost 1.81, pinned above).
inline bool mutex_looks_free(boost::interprocess::ipcdetail::posix_mutex& m) noexcept {
  static_assert(sizeof(boost::interprocess::ipcdetail::posix_mutex) == sizeof(pthread_mutex_t));
  const int* word = &reinterpret_cast<pthread_mutex_t*>(&m)->__data.__lock;
  return __atomic_load_n(word, __ATOMIC_RELAXED) == 0;
}
}  // namespace procactor::ipc

namespace boost::interprocess::ipcdetail {
template <>
inline void timeout_when_locking_aware_lock<posix_mutex>(posix_mutex& m) {
  // One plain try first: the uncontended case, and a lock whose owner died (EOWNERDEAD comes back
  // through try_lock, as it did before the spin below reads the word first).
  if (m.try_lock()) return;
  for (int i = 0; i < 128; ++i) {  // critical sections are a few hundred ns: spin briefly first
    if (procactor::ipc::mutex_looks_free(m) && m.try_lock()) return;
    procactor::ipc::cpu_relax();
  }
  if (!m.timed_lock(microsec_clock<ustime>::universal_time() +
                    usduration_milliseconds(BOOST_INTERPROCESS_TIMEOUT_WHEN_LOCKING_DURATION_MS))) {
    throw interprocess_exception(timeout_when_locking_error,
                                 "Interprocess mutex timeout when locking. Possible deadlock: "
                                 "owner died without unlocking?");
  }
}
}  // namespace boost::interprocess::ipcdetail
