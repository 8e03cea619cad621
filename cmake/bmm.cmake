# Project helpers: one way to add a test, one way to add a kernel source.

# bmm_add_test(<name> SOURCES <files...> [LIBS <libs...>] [LABELS <labels...>] [TIMEOUT <s>])
# Builds a GoogleTest executable and registers it with ctest as one test per
# executable (the executable prints GoogleTest's own per-case results).
# With OWN_MAIN the sources define main() (e.g. to register a global test
# environment such as tests/support/stack.hpp's real local stack).
function(bmm_add_test name)
  cmake_parse_arguments(T "OWN_MAIN" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest)
  if(NOT T_OWN_MAIN)
    target_link_libraries(${name} PRIVATE GTest::gtest_main)
  endif()
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "BMM_SOURCE_DIR=${CMAKE_SOURCE_DIR};BMM_BIN_DIR=${CMAKE_BINARY_DIR}/bin")
  if(T_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
  endif()
endfunction()

# bmm_kernel_source(<target> <file> <flags...>)
# Adds a kernel translation unit that alone gets the ISA flags it needs, so that
# nothing else in the binary can emit, say, AVX-512 by accident.
function(bmm_kernel_source target file)
  target_sources(${target} PRIVATE ${file})
  set_source_files_properties(${file} PROPERTIES COMPILE_OPTIONS "${ARGN}")
endfunction()
