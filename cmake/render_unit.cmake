# render_unit.cmake — writes a systemd unit at install time.
#
# Why at install time: the unit names the installed programs, and only
# then is the prefix known (`cmake --install build --prefix X`, or /usr in
# the Debian package). Called from install(CODE) with IN, OUT_DIR,
# HARDENING_FILE; reads CMAKE_INSTALL_PREFIX and DESTDIR as install sets
# them. /usr puts the config in /etc, any other prefix in PREFIX/etc.
get_filename_component(name "${IN}" NAME)
string(REGEX REPLACE "\\.in$" "" name "${name}")
set(SBINDIR "${CMAKE_INSTALL_PREFIX}/sbin")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SYSCONFDIR "/etc")
else()
  set(SYSCONFDIR "${CMAKE_INSTALL_PREFIX}/etc")
endif()
file(READ "${HARDENING_FILE}" HARDENING)
string(STRIP "${HARDENING}" HARDENING)
set(dest "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${OUT_DIR}")
configure_file("${IN}" "${dest}/${name}" @ONLY)
message(STATUS "Installing: ${dest}/${name}")
