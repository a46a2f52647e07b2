# procactor_set_warnings(target): the project's warning flags, PRIVATE to the target.
# The same flags are used with g++ and clang++ (CI builds with both, see docs/testing-plan.md).
function(procactor_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
  if(PROCACTOR_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(PROCACTOR_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${PROCACTOR_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${PROCACTOR_SANITIZE})
    if(PROCACTOR_SANITIZE MATCHES "address" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # g++ 12 under -fsanitize=address reports false -Wmaybe-uninitialized in library headers
      # inlined into our code (std::function inside <regex>, boost::optional inside Boost.Beast's
      # parser): the instrumentation hides the initialisation from the warning's analysis. The
      # plain build keeps the warning.
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    endif()
    if(PROCACTOR_SANITIZE MATCHES "undefined" AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
      # clang's UBSan checks the dynamic type of every object a virtual call is made on (vptr);
      # on a cache miss its runtime tests whether the vtable is readable through a pipe, which
      # fails with EMFILE in the cases that exhaust the descriptor limit on purpose (pipe_test,
      # cli_test's serve cases): it then reports libstdc++'s own std::system_category as an
      # object of the wrong type, and aborts. Every other check of -fsanitize=undefined stays.
      target_compile_options(${target} PRIVATE -fno-sanitize=vptr)
    endif()
    if(PROCACTOR_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # g++ 12 warns (-Wtsan) at every std::atomic_thread_fence: ThreadSanitizer does not model
      # fences. They come from Boost.Asio's std_fenced_block (the supervisor's io_context) and
      # from the mailbox's doorbell (src/ipc/mailbox.cpp), whose fences order accesses to shared
      # memory against *another process*, which TSan cannot see anyway. Not a finding; silenced.
      target_compile_options(${target} PRIVATE -Wno-tsan)
    endif()
  endif()
endfunction()
