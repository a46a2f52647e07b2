# The API reference (docs/api): Doxygen over the public headers, warnings are errors.
# Defines the target procactor_api_docs and PROCACTOR_DOXYFILE (the configured Doxyfile, used by the
# ctest entry api_reference in test/CMakeLists.txt) when Doxygen is found; nothing otherwise.
find_package(Doxygen QUIET)
if(DOXYGEN_FOUND)
  set(DOXYGEN_OUT ${PROJECT_BINARY_DIR}/docs/api)
  set(PROCACTOR_DOXYFILE ${DOXYGEN_OUT}/Doxyfile)
  configure_file(${PROJECT_SOURCE_DIR}/docs/api/Doxyfile.in ${PROCACTOR_DOXYFILE} @ONLY)
  add_custom_target(procactor_api_docs
    COMMAND Doxygen::doxygen ${PROCACTOR_DOXYFILE}
    WORKING_DIRECTORY ${DOXYGEN_OUT}
    COMMENT "API reference (Doxygen, warnings are errors) in ${DOXYGEN_OUT}/html"
    VERBATIM)
endif()
