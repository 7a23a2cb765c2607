# Finds libnuma (Debian: libnuma-dev) and provides the imported target
# NUMA::NUMA. Sets NUMA_FOUND, NUMA_INCLUDE_DIR and NUMA_LIBRARY.
#
# Used by datatier's build and installed with its CMake package, whose static
# library links libnuma: the package finds it again on the consumer's machine
# instead of naming the path it had where datatier was built.

find_path(NUMA_INCLUDE_DIR numa.h)
find_library(NUMA_LIBRARY numa)
mark_as_advanced(NUMA_INCLUDE_DIR NUMA_LIBRARY)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NUMA REQUIRED_VARS NUMA_LIBRARY NUMA_INCLUDE_DIR)

if(NUMA_FOUND AND NOT TARGET NUMA::NUMA)
  add_library(NUMA::NUMA UNKNOWN IMPORTED)
  set_target_properties(NUMA::NUMA PROPERTIES
    IMPORTED_LOCATION "${NUMA_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${NUMA_INCLUDE_DIR}")
endif()
