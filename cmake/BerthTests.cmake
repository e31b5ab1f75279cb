# How test programs are compiled (included when BERTH_BUILD_TESTS is on).
#
#   target_link_libraries(my_test PRIVATE berth_db berth_test_main)
#   ...
#   berth_use_test_pch()   # once, after every add_subdirectory
#
# Every test program links berth_test_main instead of GTest::gtest_main.
# Two things make a build's tests cheaper to compile; neither changes the
# code under test, which keeps the build type's flags:
#
# - A test program's own code (test bodies, fixtures, helpers) is compiled
#   without optimisation. Most of a test file's compile time was the
#   optimiser working through what gtest's macros expand to, code that runs
#   once. In the fuzzing build test files also go without libFuzzer's
#   coverage instrumentation, which only the fuzzers read.
# - Test programs share one precompiled header (tests/precompiled.h: the
#   standard library, gtest, gmock, Abseil, protobuf and gRPC headers the
#   tests include), built once per build directory by berth_test_pch.
#   Headers of berth's own are never in it, so a change to them rebuilds
#   only the tests that include them.

add_library(berth_test_main INTERFACE)
target_link_libraries(berth_test_main INTERFACE GTest::gtest_main)
# -pthread: gRPC's targets give it to the tests that link them, and a
# precompiled header is refused where _REENTRANT differs; every test gets it.
target_compile_options(berth_test_main INTERFACE -O0 -pthread)
if(BERTH_BUILD_FUZZERS)
  target_compile_options(berth_test_main INTERFACE -fno-sanitize=fuzzer-no-link)
endif()

# The precompiled header's own target: an empty object library with the
# same flags as every test program, which a precompiled header needs to be
# reused: it links berth_test_main too.
file(WRITE ${CMAKE_BINARY_DIR}/berth_test_pch.cc "")
add_library(berth_test_pch OBJECT ${CMAKE_BINARY_DIR}/berth_test_pch.cc)
target_link_libraries(berth_test_pch PRIVATE berth_test_main GTest::gmock)
target_precompile_headers(berth_test_pch PRIVATE ${CMAKE_SOURCE_DIR}/tests/precompiled.h)

# Collects, below <dir>, the executables that link berth_test_main.
function(berth_collect_test_programs dir out_var)
  set(found "")
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    get_target_property(libs ${target} LINK_LIBRARIES)
    if(type STREQUAL "EXECUTABLE" AND "berth_test_main" IN_LIST libs)
      list(APPEND found ${target})
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(subdir IN LISTS subdirs)
    berth_collect_test_programs(${subdir} below)
    list(APPEND found ${below})
  endforeach()
  set(${out_var} ${found} PARENT_SCOPE)
endfunction()

# Gives every test program the shared precompiled header.
function(berth_use_test_pch)
  berth_collect_test_programs(${CMAKE_SOURCE_DIR} programs)
  foreach(target IN LISTS programs)
    target_precompile_headers(${target} REUSE_FROM berth_test_pch)
  endforeach()
endfunction()
