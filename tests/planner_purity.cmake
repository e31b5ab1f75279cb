# Fails when a file under the planner folder includes gRPC, SQLite,
# prometheus-cpp or generated protobuf headers: the planner is a pure library
# that links only Abseil and the standard library.
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
set(violations "")
foreach(file ${files})
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line ${lines})
    if(line MATCHES "${forbidden_regex}")
      file(RELATIVE_PATH rel "${DIR}" "${file}")
      string(APPEND violations "\n  ${rel}: ${line}")
    endif()
  endforeach()
endforeach()

if(violations)
  message(FATAL_ERROR "planner_purity: the planner must not include gRPC, "
          "SQLite, prometheus-cpp or .pb.h headers:${violations}")
endif()
message(STATUS "planner_purity: ${count} files clean")
