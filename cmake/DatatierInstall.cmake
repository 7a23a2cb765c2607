# Install rules: headers, libdatatier both static and shared, the datatier
# tool, the man page, a CMake package (find_package(datatier CONFIG)) and a
# pkg-config file, all under the GNUInstallDirs locations.
#
# The `datatier` target is built as configured (static unless
# BUILD_SHARED_LIBS); this file adds the other flavour, `datatier_shared` or
# `datatier_static`, linked from the same object files and with the same
# output name, so one install ships libdatatier.a and libdatatier.so.N. The
# installed package gives
#   datatier::datatier         the flavour the build was configured for
#   datatier::datatier_static  libdatatier.a
#   datatier::datatier_shared  libdatatier.so (SONAME libdatatier.so.<major>)
#
# BLAKE3 stays out of the package: its objects are part of both libraries,
# under datatier_blake3_* names (cmake/DatatierBlake3.cmake) and hidden in the
# shared one, and no BLAKE3 header, target or path is installed. Only when
# the build used a system BLAKE3 package does the package config look for it
# again, because the static library then needs libblake3 at link time.

option(DATATIER_INSTALL "Generate the install rules" ${datatier_is_top})
if(NOT DATATIER_INSTALL)
  return()
endif()

include(CMakePackageConfigHelpers)

set(DATATIER_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/datatier"
    CACHE STRING "Where the CMake package files go, relative to the prefix")
mark_as_advanced(DATATIER_CMAKE_DIR)

# --- The second flavour of the library ---------------------------------------
get_target_property(_datatier_type datatier TYPE)
if(_datatier_type STREQUAL "STATIC_LIBRARY")
  set(_datatier_other datatier_shared)
  add_library(datatier_shared SHARED $<TARGET_OBJECTS:datatier>)
  set(_datatier_static datatier)
  set(_datatier_shared datatier_shared)
else()
  set(_datatier_other datatier_static)
  add_library(datatier_static STATIC $<TARGET_OBJECTS:datatier>)
  set(_datatier_static datatier_static)
  set(_datatier_shared datatier)
endif()
add_library(datatier::${_datatier_other} ALIAS ${_datatier_other})

# $<TARGET_OBJECTS:datatier> holds the objects datatier compiled itself, not
# the BLAKE3 objects it takes in as sources: add those again.
if(NOT DATATIER_BLAKE3_SYSTEM)
  target_sources(${_datatier_other} PRIVATE $<TARGET_OBJECTS:datatier_blake3>)
endif()

# Same usage requirements and link dependencies as `datatier`, taken from the
# target so that src/CMakeLists.txt stays the one place they are written.
foreach(_prop INTERFACE_INCLUDE_DIRECTORIES INTERFACE_COMPILE_FEATURES
              INTERFACE_COMPILE_DEFINITIONS INTERFACE_LINK_LIBRARIES)
  get_target_property(_value datatier ${_prop})
  if(_value)
    set_property(TARGET ${_datatier_other} PROPERTY ${_prop} "${_value}")
  endif()
endforeach()
get_target_property(_datatier_link_libraries datatier LINK_LIBRARIES)
if(_datatier_link_libraries)
  target_link_libraries(${_datatier_other} PRIVATE ${_datatier_link_libraries})
endif()
set_target_properties(${_datatier_other} PROPERTIES
  OUTPUT_NAME datatier
  LINKER_LANGUAGE CXX
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}
  POSITION_INDEPENDENT_CODE ON)
# A shared library must not depend on its users for symbols. The BLAKE3 C
# code is compiled with hidden visibility, but its assembly kernels declare
# plain global symbols: a version script makes every BLAKE3 symbol local, so
# libdatatier.so exports none and cannot clash with another BLAKE3.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  # Sanitizer builds leave the runtime's symbols to the executable.
  if(NOT "${CMAKE_CXX_FLAGS} ${CMAKE_SHARED_LINKER_FLAGS}" MATCHES "-fsanitize")
    target_link_options(${_datatier_shared} PRIVATE LINKER:--no-undefined)
  endif()
  set(_datatier_map "${PROJECT_BINARY_DIR}/datatier_hide_blake3.map")
  file(WRITE "${_datatier_map}" "{\n  local:\n    *blake3*;\n};\n")
  target_link_options(${_datatier_shared} PRIVATE LINKER:--version-script=${_datatier_map})
  set_property(TARGET ${_datatier_shared} APPEND PROPERTY LINK_DEPENDS "${_datatier_map}")
endif()

# --- What gets installed -----------------------------------------------------
set(_datatier_export_targets datatier ${_datatier_other})
if(DATATIER_BLAKE3_SYSTEM)
  # The static library's link interface names the build's wrapper around
  # BLAKE3::blake3; export it too (link-only, no headers) so the package can
  # resolve it. datatierConfig.cmake finds BLAKE3 first.
  set_target_properties(datatier_blake3 PROPERTIES EXPORT_NAME detail_blake3_link)
  list(APPEND _datatier_export_targets datatier_blake3)
endif()

install(TARGETS ${_datatier_export_targets}
  EXPORT datatierTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT datatier_development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT datatier_runtime
          NAMELINK_COMPONENT datatier_development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT datatier_runtime)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/datatier
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT datatier_development
  FILES_MATCHING PATTERN "*.h")

if(TARGET datatier_cli)
  install(TARGETS datatier_cli
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT datatier_runtime)
endif()
if(EXISTS ${PROJECT_SOURCE_DIR}/docs/datatier.1)
  install(FILES ${PROJECT_SOURCE_DIR}/docs/datatier.1
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT datatier_runtime)
endif()

# --- CMake package -------------------------------------------------------------
install(EXPORT datatierTargets
  NAMESPACE datatier::
  FILE datatierTargets.cmake
  DESTINATION ${DATATIER_CMAKE_DIR}
  COMPONENT datatier_development)

# Read by datatierConfig.cmake.in: which packages the static library's link
# interface names.
set(DATATIER_NEEDS_THREADS OFF)
if("Threads::Threads" IN_LIST _datatier_link_libraries)
  set(DATATIER_NEEDS_THREADS ON)
endif()
# libnuma is found again where the package is used, by the same FindNUMA.cmake,
# installed beside the config, so the package names no path of this machine.
set(DATATIER_NEEDS_NUMA OFF)
if("NUMA::NUMA" IN_LIST _datatier_link_libraries)
  set(DATATIER_NEEDS_NUMA ON)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/FindNUMA.cmake
    DESTINATION ${DATATIER_CMAKE_DIR}
    COMPONENT datatier_development)
endif()
if(_datatier_type STREQUAL "STATIC_LIBRARY")
  set(DATATIER_DEFAULT_FLAVOUR static)
else()
  set(DATATIER_DEFAULT_FLAVOUR shared)
endif()
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/datatierConfig.cmake.in
  ${PROJECT_BINARY_DIR}/datatierConfig.cmake
  INSTALL_DESTINATION ${DATATIER_CMAKE_DIR}
  NO_SET_AND_CHECK_MACRO)
# 0.x releases make no compatibility promise between minor versions.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_datatier_compat SameMinorVersion)
else()
  set(_datatier_compat SameMajorVersion)
endif()
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/datatierConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY ${_datatier_compat})
install(FILES
  ${PROJECT_BINARY_DIR}/datatierConfig.cmake
  ${PROJECT_BINARY_DIR}/datatierConfigVersion.cmake
  DESTINATION ${DATATIER_CMAKE_DIR}
  COMPONENT datatier_development)

# --- pkg-config ----------------------------------------------------------------
# The file names absolute directories, so the prefix is filled in when
# installing: `cmake --install --prefix DIR` gets DIR, not the configured one.
set(_datatier_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
set(DATATIER_PC_PREFIX "@DATATIER_INSTALL_PREFIX@")  # replaced at install time
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(DATATIER_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(DATATIER_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
# What a static link needs besides libdatatier.a: the C++ runtime (C programs
# link with cc), the libraries src/CMakeLists.txt links, and libblake3 when it
# was not built in.
set(_datatier_pc_libs "-lstdc++" "-lm")
set(DATATIER_PC_REQUIRES_PRIVATE "")
foreach(_lib IN LISTS _datatier_link_libraries)
  if(_lib STREQUAL "Threads::Threads")
    if(CMAKE_THREAD_LIBS_INIT)
      list(APPEND _datatier_pc_libs "${CMAKE_THREAD_LIBS_INIT}")
    endif()
  elseif(_lib STREQUAL "datatier_blake3")
    set(DATATIER_PC_REQUIRES_PRIVATE "libblake3")
  elseif(_lib STREQUAL "NUMA::NUMA")
    list(APPEND _datatier_pc_libs "-lnuma")
  elseif(_lib MATCHES "^\\$<" OR TARGET "${_lib}")
    # Build-tree-only helpers such as $<BUILD_INTERFACE:datatier_blake3_headers>.
  elseif(_lib MATCHES "/lib([^/]+)\\.(so|a)(\\.[0-9.]+)?$")
    list(APPEND _datatier_pc_libs "-l${CMAKE_MATCH_1}")
  elseif(_lib MATCHES "^-")
    list(APPEND _datatier_pc_libs "${_lib}")
  else()
    list(APPEND _datatier_pc_libs "-l${_lib}")
  endif()
endforeach()
list(REMOVE_DUPLICATES _datatier_pc_libs)
list(JOIN _datatier_pc_libs " " DATATIER_PC_LIBS_PRIVATE)
configure_file(${CMAKE_CURRENT_LIST_DIR}/datatier.pc.in
  ${PROJECT_BINARY_DIR}/datatier.pc.template @ONLY)
if(IS_ABSOLUTE "${_datatier_pc_dir}")
  set(_datatier_pc_destination "${_datatier_pc_dir}")
else()
  set(_datatier_pc_destination "\${CMAKE_INSTALL_PREFIX}/${_datatier_pc_dir}")
endif()
install(CODE "
  file(READ \"${PROJECT_BINARY_DIR}/datatier.pc.template\" _datatier_pc)
  string(REPLACE \"@DATATIER_INSTALL_PREFIX@\" \"\${CMAKE_INSTALL_PREFIX}\" _datatier_pc \"\${_datatier_pc}\")
  file(WRITE \"${PROJECT_BINARY_DIR}/datatier.pc\" \"\${_datatier_pc}\")
  file(INSTALL \"${PROJECT_BINARY_DIR}/datatier.pc\" DESTINATION \"${_datatier_pc_destination}\")
  " COMPONENT datatier_development)
