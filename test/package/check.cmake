# Installs procactor into a scratch prefix, then builds and runs the consumer both ways.
set(prefix ${WORK}/prefix)
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${prefix} RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install failed")
endif()
foreach(mode installed subdirectory)
  if(mode STREQUAL installed)
    set(args -DCMAKE_PREFIX_PATH=${prefix})
  else()
    # Debug (-O0): this mode compiles the whole library, one file at a time, beside the suites
    # under ctest -j2; what it checks (add_subdirectory works) does not depend on the optimizer,
    # and -O0 takes about a third less CPU than the default RelWithDebInfo
    set(args -DPROCACTOR_SOURCE_DIR=${SOURCE} -DPROCACTOR_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug)
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE}/test/package -B ${WORK}/${mode} ${args}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${mode}: configure failed\n${out}\n${err}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK}/${mode} --target consumer
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${mode}: build failed\n${out}\n${err}")
  endif()
  execute_process(COMMAND ${WORK}/${mode}/consumer RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${mode}: consumer exited with ${rc}")
  endif()
  message("${mode}: OK")
endforeach()
file(REMOVE_RECURSE ${WORK})
