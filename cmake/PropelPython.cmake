# The one Python interpreter the project runs: the Python tests, `propel compare` (baked into the
# CLI) and the test scripts' helpers. Never whichever `python3` comes first on PATH: that may be
# a venv, conda or pyenv interpreter without the modules.
#
# Choice, first that applies:
#   1. -DPROPEL_PYTHON=/path/to/python (or the PROPEL_PYTHON environment variable at configure
#      time): used as given; a warning names any module it lacks.
#   2. build/venv/bin/python: the virtual environment tools/setup.sh makes from Debian's
#      /usr/bin/python3 and fills from PyPI (python/requirements.txt: numpy, scipy, and what the
#      Python package builds and tests with: nanobind, scikit-build-core, scikit-learn, onnx,
#      onnxruntime, pytest, pandas).
#   3. Debian's /usr/bin/python3 (python3-numpy, python3-scipy from tools/setup.sh).
#   4. The first `python3` on PATH that has the modules.
# The result is PROPEL_PYTHON_EXECUTABLE. When no candidate has the modules, the first existing
# one is kept and the `python_modules` test fails naming the interpreter and the missing module;
# the tests that need Python depend on it.

set(PROPEL_PYTHON_MODULES numpy scipy)
set(PROPEL_PYTHON "" CACHE FILEPATH
  "Python interpreter for the tests and `propel compare` (needs: numpy, scipy); empty: choose")

# propel_python_missing(<out> <interpreter>): what keeps <interpreter> from serving ("does not
# exist", "cannot import numpy, scipy"); empty when it has every module.
function(propel_python_missing out interpreter)
  set(missing "")
  if(NOT EXISTS "${interpreter}")
    set(${out} "does not exist" PARENT_SCOPE)
    return()
  endif()
  foreach(module IN LISTS PROPEL_PYTHON_MODULES)
    execute_process(COMMAND "${interpreter}" -c "import ${module}"
      RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET TIMEOUT 60)
    if(NOT rc EQUAL 0)
      list(APPEND missing ${module})
    endif()
  endforeach()
  if(missing)
    list(JOIN missing ", " missing)
    set(missing "cannot import ${missing}")
  endif()
  set(${out} "${missing}" PARENT_SCOPE)
endfunction()

set(_propel_python_requested "${PROPEL_PYTHON}")
if(_propel_python_requested STREQUAL "" AND DEFINED ENV{PROPEL_PYTHON})
  set(_propel_python_requested "$ENV{PROPEL_PYTHON}")
endif()

set(PROPEL_PYTHON_EXECUTABLE "")
set(PROPEL_PYTHON_PROBLEM "")
if(NOT _propel_python_requested STREQUAL "")
  set(PROPEL_PYTHON_EXECUTABLE "${_propel_python_requested}")
  propel_python_missing(_missing "${PROPEL_PYTHON_EXECUTABLE}")
  if(_missing)
    set(PROPEL_PYTHON_PROBLEM "${PROPEL_PYTHON_EXECUTABLE} ${_missing}")
  endif()
else()
  set(_candidates "${PROJECT_SOURCE_DIR}/build/venv/bin/python" /usr/bin/python3)
  find_program(_propel_path_python NAMES python3 NO_CACHE NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH
    NO_CMAKE_SYSTEM_PATH)
  if(_propel_path_python)
    list(APPEND _candidates "${_propel_path_python}")
  endif()
  list(REMOVE_DUPLICATES _candidates)
  set(_tried "")
  foreach(candidate IN LISTS _candidates)
    propel_python_missing(_missing "${candidate}")
    if(NOT _missing)
      set(PROPEL_PYTHON_EXECUTABLE "${candidate}")
      break()
    endif()
    list(APPEND _tried "${candidate} ${_missing}")
    if(PROPEL_PYTHON_EXECUTABLE STREQUAL "" AND EXISTS "${candidate}")
      set(_first_existing "${candidate}")
    endif()
  endforeach()
  if(PROPEL_PYTHON_EXECUTABLE STREQUAL "")
    list(JOIN _tried "; " PROPEL_PYTHON_PROBLEM)
    if(DEFINED _first_existing)
      set(PROPEL_PYTHON_EXECUTABLE "${_first_existing}")
    else()
      set(PROPEL_PYTHON_EXECUTABLE /usr/bin/python3)
    endif()
  endif()
endif()

list(JOIN PROPEL_PYTHON_MODULES ", " _modules)
if(PROPEL_PYTHON_PROBLEM STREQUAL "")
  message(STATUS "Python: ${PROPEL_PYTHON_EXECUTABLE} (with ${_modules})")
else()
  message(WARNING "Python: no interpreter with the modules ${_modules} "
    "(${PROPEL_PYTHON_PROBLEM}). The Python tests will fail and `propel compare` will not run. "
    "tools/setup.sh installs python3-numpy and python3-scipy for /usr/bin/python3; or set "
    "-DPROPEL_PYTHON to an interpreter that has them.")
endif()
