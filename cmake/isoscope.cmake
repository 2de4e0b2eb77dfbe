# Helpers shared by every module's CMakeLists.txt.

# isoscope_library(NAME SOURCES ...): a module library with the project's
# warnings, includes from the repository root, and an isoscope::NAME alias.
function(isoscope_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  add_library(isoscope_${name} STATIC ${ARG_SOURCES})
  add_library(isoscope::${name} ALIAS isoscope_${name})
  target_include_directories(isoscope_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(isoscope_${name} PRIVATE ${ISOSCOPE_CXX_WARNINGS})
endfunction()

# isoscope_test(NAME SOURCES ... LINKS ... LABELS ...): a GoogleTest binary
# registered with CTest, one CTest entry per test case. Labels: unit,
# integration, needs_root, needs_kvm, needs_userns.
function(isoscope_test name)
  # RESOURCE_LOCK: tests of binaries naming the same lock never run at the
  # same time (they watch host state, such as /tmp, that the others change).
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LINKS;LABELS;RESOURCE_LOCK"
                        ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  # g++ 12 reports false "maybe uninitialized" positives when tests copy
  # nested std::variant values (GCC PR 105562 and relatives); production code
  # keeps the warning.
  target_compile_options(${name} PRIVATE ${ISOSCOPE_CXX_WARNINGS}
                                         -Wno-maybe-uninitialized)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_LINKS} GTest::gtest GTest::gmock
                                        GTest::gtest_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  # Tests find the trees through these (the environment variables of the same
  # names override them); a list-valued ENVIRONMENT does not survive
  # gtest_discover_tests' quoting.
  isoscope_test_paths(${name} PRIVATE)
  gtest_discover_tests(${name} TEST_LIST ${name}_TESTS DISCOVERY_TIMEOUT 60)
  # Not through gtest_discover_tests' PROPERTIES: it flattens a list value,
  # so "LABELS integration;needs_kvm TIMEOUT 300" became one malformed
  # set_tests_properties call that set neither. CTest reads this file after
  # the discovered tests (TEST_INCLUDE_FILES keeps its order) and sets both
  # on every test of the binary.
  set(properties "${CMAKE_CURRENT_BINARY_DIR}/${name}_properties.cmake")
  file(WRITE "${properties}"
    "if(${name}_TESTS)\n"
    "  set_tests_properties(\${${name}_TESTS} PROPERTIES\n"
    "    LABELS \"${ARG_LABELS}\" TIMEOUT ${ARG_TIMEOUT})\n"
    "endif()\n")
  if(ARG_RESOURCE_LOCK)
    file(APPEND "${properties}"
      "if(${name}_TESTS)\n"
      "  set_tests_properties(\${${name}_TESTS} PROPERTIES\n"
      "    RESOURCE_LOCK \"${ARG_RESOURCE_LOCK}\")\n"
      "endif()\n")
  endif()
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${properties}")
endfunction()

# Compile definitions ISOSCOPE_TEST_SOURCE_DIR / ISOSCOPE_TEST_BUILD_DIR.
function(isoscope_test_paths target scope)
  target_compile_definitions(${target} ${scope}
    ISOSCOPE_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    ISOSCOPE_TEST_BUILD_DIR="${PROJECT_BINARY_DIR}")
endfunction()

include(GoogleTest)
