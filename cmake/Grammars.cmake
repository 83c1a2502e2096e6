# Grammars.cmake: the tree-sitter grammars, as the imported static library
# `lode_grammars`.
#
# At configure time scripts/grammars.sh fetches the packages pinned in
# grammars/grammars.lock (npm, sha512-checked), compiles them and caches
# libgrammars.a outside the build tree, keyed by the lock, the script and
# the compiler; later configures, build folders and clones reuse it at
# once. Set LODE_GRAMMAR_CACHE (CMake or environment variable) to move the
# cache; when the default location is not writable the cache falls back to
# <build>/_grammars. Should the cached archive vanish after configuring,
# the build runs the script again to restore it.

set(LODE_GRAMMAR_LOCK ${PROJECT_SOURCE_DIR}/grammars/grammars.lock)
set(LODE_GRAMMAR_SCRIPT ${PROJECT_SOURCE_DIR}/scripts/grammars.sh)
set(LODE_GRAMMAR_CACHE "$ENV{LODE_GRAMMAR_CACHE}" CACHE PATH
    "Grammar cache root (empty: \${XDG_CACHE_HOME:-\$HOME/.cache}/lode/grammars)")

# Re-run configure (and so the script) when the lock or the script changes.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${LODE_GRAMMAR_LOCK} ${LODE_GRAMMAR_SCRIPT})

find_program(LODE_BASH bash REQUIRED)
set(lode__grammar_env CC=${CMAKE_C_COMPILER} LODE_GRAMMAR_FALLBACK=${CMAKE_BINARY_DIR}/_grammars)
if(CMAKE_AR)
  list(APPEND lode__grammar_env AR=${CMAKE_AR})
endif()
if(LODE_GRAMMAR_CACHE)
  list(APPEND lode__grammar_env LODE_GRAMMAR_CACHE=${LODE_GRAMMAR_CACHE})
endif()
set(lode__grammar_cmd ${CMAKE_COMMAND} -E env ${lode__grammar_env}
    ${LODE_BASH} ${LODE_GRAMMAR_SCRIPT} --lock ${LODE_GRAMMAR_LOCK})

execute_process(
  COMMAND ${lode__grammar_cmd}
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  RESULT_VARIABLE lode__grammar_rc
  OUTPUT_VARIABLE lode__grammar_dir
  ERROR_VARIABLE lode__grammar_err
  ECHO_ERROR_VARIABLE
  OUTPUT_STRIP_TRAILING_WHITESPACE)

if(NOT lode__grammar_rc EQUAL 0 OR NOT EXISTS "${lode__grammar_dir}/libgrammars.a")
  string(REGEX MATCHALL "grammars: error:[^\n]*" lode__grammar_why "${lode__grammar_err}")
  list(JOIN lode__grammar_why "\n" lode__grammar_why)
  message(FATAL_ERROR "building the tree-sitter grammars failed (scripts/grammars.sh, "
                      "exit ${lode__grammar_rc}):\n${lode__grammar_why}")
endif()

message(STATUS "tree-sitter grammars: ${lode__grammar_dir}/libgrammars.a")
set(LODE_GRAMMAR_DIR ${lode__grammar_dir})

# Same command, same key, same path: restores a deleted cache entry (a
# first build runs it once, a cache hit, in a fraction of a second).
add_custom_command(
  OUTPUT ${LODE_GRAMMAR_DIR}/libgrammars.a
  COMMAND ${lode__grammar_cmd} > /dev/null
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  COMMENT "Checking the tree-sitter grammars in ${LODE_GRAMMAR_DIR}")
add_custom_target(lode_grammars_archive DEPENDS ${LODE_GRAMMAR_DIR}/libgrammars.a)

add_library(lode_grammars STATIC IMPORTED GLOBAL)
set_target_properties(lode_grammars PROPERTIES
  IMPORTED_LOCATION ${LODE_GRAMMAR_DIR}/libgrammars.a)
add_dependencies(lode_grammars lode_grammars_archive)
