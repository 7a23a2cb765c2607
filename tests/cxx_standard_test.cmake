# Checks that the public C++ headers stop a compilation below C++20 with one
# clear error. For each header of include/datatier/, compiles (syntax only) an
# empty file that includes just that header as C++17, expecting the #error of
# datatier/cxx_standard.h and no other error; then the umbrella header as
# C++20, expecting it to compile, so that the failures above come from the
# standard check and not from a broken command.
#
#   cmake -DCXX=<compiler> -DCXX17=<flag> -DCXX20=<flag> -DINCLUDE_DIR=<dir> -P cxx_standard_test.cmake

set(expected "datatier needs C\\+\\+20")
file(GLOB headers RELATIVE "${INCLUDE_DIR}" "${INCLUDE_DIR}/datatier/*.h")
# The C API header is C and C++ alike; the guard itself is not included first.
list(REMOVE_ITEM headers datatier/datatier_c.h datatier/cxx_standard.h)
list(LENGTH headers count)
if(count EQUAL 0)
  message(FATAL_ERROR "no public headers found in ${INCLUDE_DIR}/datatier")
endif()

set(failures 0)
foreach(header IN LISTS headers)
  execute_process(
    COMMAND "${CXX}" ${CXX17} -fsyntax-only -I "${INCLUDE_DIR}" -include "${header}" -x c++ /dev/null
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  # Every error but the fatal stop after the #error ("fatal error:").
  string(REGEX MATCHALL ": error: " errors "${out}")
  list(LENGTH errors error_count)
  if(rc EQUAL 0)
    message(SEND_ERROR "${header} compiled as C++17; expected the C++20 #error")
    math(EXPR failures "${failures} + 1")
  elseif(NOT out MATCHES "${expected}" OR NOT error_count EQUAL 1)
    message(SEND_ERROR "${header} as C++17: expected one error, \"${expected}\"; got\n${out}")
    math(EXPR failures "${failures} + 1")
  else()
    message(STATUS "ok   ${header}: C++17 stops at the #error")
  endif()
endforeach()

execute_process(
  COMMAND "${CXX}" ${CXX20} -fsyntax-only -I "${INCLUDE_DIR}" -include datatier/datatier.h -x c++ /dev/null
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(SEND_ERROR "datatier/datatier.h does not compile as C++20:\n${out}")
  math(EXPR failures "${failures} + 1")
else()
  message(STATUS "ok   datatier/datatier.h: C++20 compiles")
endif()

if(failures GREATER 0)
  message(FATAL_ERROR "${failures} check(s) failed")
endif()
