# Fails when a file under the planner folder includes gRPC, SQLite,
# prometheus-cpp or generated protobuf headers, or any project header outside
# planner/ and common/ (berth_common, which links only Abseil): the planner is
# a pure library that links only Abseil and the standard library. Quoted
# includes may name planner/, common/, absl/, and in tests gtest/, gmock/ or
# benchmark/.
#
#   cmake -DDIR=<repo>/planner -P tests/planner_purity.cmake
if(NOT DEFINED DIR OR NOT IS_DIRECTORY "${DIR}")
  message(FATAL_ERROR "planner_purity: pass -DDIR=<planner folder> (got '${DIR}')")
endif()

file(GLOB_RECURSE files "${DIR}/*.h" "${DIR}/*.cc" "${DIR}/*.cpp"
     "${DIR}/*.hpp" "${DIR}/*.inc")
list(LENGTH files count)
if(count EQUAL 0)
  message(FATAL_ERROR "planner_purity: no sources found under ${DIR}")
endif()

set(forbidden_regex
    "^[ \t]*#[ \t]*include[ \t]*[<\"](grpcpp/[^>\"]*|sqlite3\\.h|prometheus/[^>\"]*|[^>\"]*\\.pb\\.h)[>\"]")
set(allowed_quoted_regex
    "^[ \t]*#[ \t]*include[ \t]*\"(planner|common|absl|gtest|gmock|benchmark)/")
set(violations "")
foreach(file ${files})
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line ${lines})
    if(line MATCHES "${forbidden_regex}" OR
       (line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"" AND NOT line MATCHES "${allowed_quoted_regex}"))
      file(RELATIVE_PATH rel "${DIR}" "${file}")
      string(APPEND violations "\n  ${rel}: ${line}")
    endif()
  endforeach()
endforeach()

if(violations)
  message(FATAL_ERROR "planner_purity: the planner must not include gRPC, "
          "SQLite, prometheus-cpp, .pb.h or project headers outside planner/ "
          "and common/:${violations}")
endif()
message(STATUS "planner_purity: ${count} files clean")
