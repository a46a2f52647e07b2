# NATS (issue #12: a cluster of trees over NATS). Optional: the C client libnats is found with
# pkg-config (the CMake config file of Debian's libnats-dev is broken). Everything builds without
# it; then procactor::cluster::node::start fails with std::errc::function_not_supported.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(LIBNATS QUIET libnats)
endif()
if(LIBNATS_FOUND)
  set(procactor_nats_default ON)
else()
  set(procactor_nats_default OFF)
endif()
option(PROCACTOR_WITH_NATS "Build the cluster gateway over NATS (needs libnats, found with pkg-config)"
       ${procactor_nats_default})
if(PROCACTOR_WITH_NATS AND NOT LIBNATS_FOUND)
  message(FATAL_ERROR "PROCACTOR_WITH_NATS=ON but libnats was not found with pkg-config")
endif()
if(PROCACTOR_WITH_NATS)
  message(STATUS "procactor: cluster over NATS with libnats ${LIBNATS_VERSION}")
else()
  message(STATUS "procactor: without NATS (no cluster gateway)")
endif()
