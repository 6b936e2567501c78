# Benchmark peers (OpenBLAS, Eigen, oneDNN): optional, and never a reason for the build to fail.
#
# A package's own CMake config can abort the configure that loads it: find_package(... QUIET)
# silences "not found", not a config file that calls find_package(X REQUIRED) or message(FATAL_ERROR)
# itself (Debian's oneDNN 2.6 requires the OpenCL headers that way). So each config package is
# first loaded in a child CMake run, with the same compilers and search paths; only when that
# succeeds is it loaded here. A package that is absent is reported as such; one that is present but
# fails to load is reported with the first line of its error, and its comparisons are left out.

# propel_find_peer(<Name> <package> [VERSION <v>] [NO_MODULE|CONFIG])
# Sets PROPEL_PEER_<Name> to ON when <package> was found and loads, OFF otherwise, and prints one
# line either way. On success the package's targets exist in the calling scope's directory.
function(propel_find_peer name package)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "VERSION" "")
  set(probe_dir ${PROJECT_BINARY_DIR}/peer-probe/${package})
  file(MAKE_DIRECTORY ${probe_dir})
  file(WRITE ${probe_dir}/CMakeLists.txt
    "cmake_minimum_required(VERSION 3.20)\n"
    "project(propel_peer_probe LANGUAGES C CXX)\n"
    "find_package(${package} ${arg_VERSION} CONFIG QUIET)\n"
    "if(NOT ${package}_FOUND)\n"
    "  message(STATUS \"PROPEL_PEER_ABSENT\")\n"
    "endif()\n")
  set(forward "")
  foreach(var CMAKE_PREFIX_PATH CMAKE_MODULE_PATH CMAKE_FIND_ROOT_PATH CMAKE_SYSTEM_PREFIX_PATH
              ${package}_DIR)
    if(DEFINED ${var})
      list(JOIN ${var} "\\;" joined)
      list(APPEND forward "-D${var}=${joined}")
    endif()
  endforeach()
  execute_process(
    COMMAND ${CMAKE_COMMAND} -S ${probe_dir} -B ${probe_dir}/build -G ${CMAKE_GENERATOR}
            -DCMAKE_C_COMPILER=${CMAKE_C_COMPILER} -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
            ${forward}
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err
    TIMEOUT 120)
  file(REMOVE_RECURSE ${probe_dir}/build)
  if(rc EQUAL 0 AND out MATCHES "PROPEL_PEER_ABSENT")
    message(STATUS "bench: ${name} not found, its comparisons are left out")
    set(PROPEL_PEER_${name} OFF PARENT_SCOPE)
    return()
  endif()
  if(NOT rc EQUAL 0)
    # The first error's message, to its first sentence, e.g. "Could NOT find OpenCL (missing:
    # ...)": the indented lines under the first "CMake Error at ...".
    string(REPLACE ";" "," err "${err}")
    string(REPLACE "\r" "" err "${err}")
    string(REPLACE "\n" ";" lines "${err}")
    set(reason "")
    set(in_error OFF)
    foreach(line IN LISTS lines)
      if(NOT in_error)
        if(line MATCHES "^CMake Error")
          set(in_error ON)
        endif()
      elseif(line MATCHES "^  " OR (line STREQUAL "" AND reason STREQUAL ""))
        string(STRIP "${line}" line)
        string(APPEND reason " ${line}")
      else()
        break()
      endif()
    endforeach()
    string(STRIP "${reason}" reason)
    string(FIND "${reason}" ". " sentence_end)
    if(sentence_end GREATER -1)
      string(SUBSTRING "${reason}" 0 ${sentence_end} reason)
    endif()
    string(REGEX REPLACE "[.]$" "" reason "${reason}")
    if(reason STREQUAL "")
      set(reason "its package config failed to load (exit ${rc})")
    endif()
    message(STATUS "bench: ${name} found but unusable: ${reason}; its comparisons are left out")
    set(PROPEL_PEER_${name} OFF PARENT_SCOPE)
    return()
  endif()
  find_package(${package} ${arg_VERSION} CONFIG QUIET)
  if(${package}_FOUND)
    message(STATUS "bench: comparing against ${name} ${${package}_VERSION}")
    set(PROPEL_PEER_${name} ON PARENT_SCOPE)
    # Imported targets belong to the directory, not the function: they need no forwarding.
    set(${package}_FOUND ${${package}_FOUND} PARENT_SCOPE)
    set(${package}_VERSION ${${package}_VERSION} PARENT_SCOPE)
  else()
    message(STATUS "bench: ${name} not found, its comparisons are left out")
    set(PROPEL_PEER_${name} OFF PARENT_SCOPE)
  endif()
endfunction()
