# cpack_project.cmake — read by cpack when it packages (CPACK_PROJECT_CONFIG_FILE).
# Why: the package's version must be the one its programs print, and both
# are taken from git when they are made, not when cmake last configured.
include("${CPACK_POLKU_SOURCE_DIR}/cmake/version.cmake")
polku_git_version(CPACK_PACKAGE_VERSION "${CPACK_POLKU_BASE_VERSION}" "${CPACK_POLKU_SOURCE_DIR}")
