# Per-target include paths: a target may include a folder's headers only when
# it links the library of that folder (directly or through another library).
#
#   add_library(berth_db ...)
#   berth_add_headers(berth_db db)   # berth_db and its users include "db/store.h"
#
# Headers keep their paths from the repository root ("planner/solver.h"), but
# no target sees the whole root: each folder gets its own include directory
# ${CMAKE_BINARY_DIR}/include/<folder>, holding one symbolic link
# <folder> -> ${CMAKE_SOURCE_DIR}/<folder>. A missing link in the target
# graph is then a compile error ("db/store.h: No such file"), and the fix is
# the target_link_libraries line, never an include path.

# Makes the include directory of <folder> (a folder of the repository, e.g.
# "planner" or "tests") and stores its path in <out_var>.
function(berth_headers_dir out_var folder)
  set(dir ${CMAKE_BINARY_DIR}/include/${folder})
  set(link ${dir}/${folder})
  if(NOT IS_SYMLINK ${link})
    get_filename_component(parent ${link} DIRECTORY)
    file(MAKE_DIRECTORY ${parent})
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${folder} ${link} SYMBOLIC)
  endif()
  set(${out_var} ${dir} PARENT_SCOPE)
endfunction()

# Lets <target>, and every target that links it, include "<folder>/...".
# INTERFACE libraries pass the path on only; executables keep it to
# themselves.
function(berth_add_headers target folder)
  berth_headers_dir(dir ${folder})
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    set(scope INTERFACE)
  elseif(type STREQUAL "EXECUTABLE")
    set(scope PRIVATE)
  else()
    set(scope PUBLIC)
  endif()
  target_include_directories(${target} ${scope} ${dir})
endfunction()
