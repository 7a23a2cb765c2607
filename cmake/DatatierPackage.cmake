# Debian packages of what DatatierInstall.cmake installs, built with
#   cpack -G DEB          (in a configured and built build directory)
# under /usr:
#   datatier          the tool, its man page and libdatatier.so.<major>
#                     (component datatier_runtime); its Depends are what
#                     dpkg-shlibdeps finds the binaries need (libc6,
#                     libstdc++6, libnuma1, libfmt9, ...)
#   libdatatier-dev   the headers, libdatatier.a, the libdatatier.so link, the
#                     CMake package and the pkg-config file (component
#                     datatier_development); depends on datatier of the same
#                     version and on what linking the static library needs
# The packages go to <build>/packages/.

set(CPACK_PACKAGE_NAME datatier)
set(CPACK_PACKAGE_VENDOR datatier)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(DATATIER_PACKAGE_CONTACT "datatier maintainers" CACHE STRING
    "The Maintainer field of the Debian packages")
set(CPACK_PACKAGE_CONTACT "${DATATIER_PACKAGE_CONTACT}")

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL datatier_runtime datatier_development)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <name>_<version>-<release>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
# A shlibs file for libdatatier.so.<major>, and the ldconfig trigger.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

set(CPACK_DEBIAN_DATATIER_RUNTIME_PACKAGE_NAME datatier)
set(CPACK_DEBIAN_DATATIER_RUNTIME_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_DATATIER_RUNTIME_PACKAGE_SHLIBDEPS ON)
# The extended descriptions; CPack puts CPACK_PACKAGE_DESCRIPTION_SUMMARY
# (the project's description) before them as the synopsis. One string each:
# separate arguments would make a list.
set(CPACK_COMPONENT_DATATIER_RUNTIME_DESCRIPTION "\
The datatier command inspects, verifies, creates, removes and restores
datatier pool files and measures what pools cost on the machine;
libdatatier.so is the library programs load.")

# What linking the static library needs on top of the C++ compiler: the
# package config finds libnuma again (FindNUMA.cmake), and so does a static
# pkg-config link.
set(_datatier_dev_depends "datatier (= ${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE})")
if(DATATIER_HAVE_LIBNUMA)
  string(APPEND _datatier_dev_depends ", libnuma-dev")
endif()
set(CPACK_DEBIAN_DATATIER_DEVELOPMENT_PACKAGE_NAME libdatatier-dev)
set(CPACK_DEBIAN_DATATIER_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DATATIER_DEVELOPMENT_PACKAGE_DEPENDS "${_datatier_dev_depends}")
set(CPACK_COMPONENT_DATATIER_DEVELOPMENT_DESCRIPTION "\
Development files: the headers of the C++20 and C11 APIs, the static
library, and the CMake (find_package(datatier)) and pkg-config files.")
unset(_datatier_dev_depends)

include(CPack)
