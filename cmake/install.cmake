# install.cmake — what `cmake --install` puts where, and the Debian package.
#
# Why: an integration team installs polku with its package manager and runs
# it under systemd; this lists every installed file in one place:
#   sbin/polku-broker, sbin/polku-agent, bin/polku
#   share/man/man{1,5,8}/  polku(1), polku.ini(5), polku-broker(8), polku-agent(8)
#   share/doc/polku/       README, docs/*.md, examples/{broker,agent}.ini
#   lib/systemd/system/    polku-broker.service, polku-broker@.service,
#                          polku-agent@.service
#   lib/sysusers.d/polku.conf, lib/tmpfiles.d/polku.conf  (the polku user,
#                          /var/lib/polku and /etc/polku)
# `cpack -G DEB` (in the build directory) makes polku_VERSION_amd64.deb,
# its library dependencies found by dpkg-shlibdeps.

set(POLKU_UNIT_DIR "lib/systemd/system" CACHE STRING
    "systemd unit directory, relative to the install prefix")

install(TARGETS polku-broker polku-agent RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS polku_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(FILES docs/man/polku.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES docs/man/polku.ini.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES docs/man/polku-broker.8 docs/man/polku-agent.8
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md" PATTERN "*.yaml" PATTERN "man" EXCLUDE)
install(FILES config/broker.ini config/agent.ini
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

foreach(unit polku-broker.service polku-broker@.service polku-agent@.service)
  install(CODE "
    set(IN \"${PROJECT_SOURCE_DIR}/dist/systemd/${unit}.in\")
    set(OUT_DIR \"${POLKU_UNIT_DIR}\")
    set(HARDENING_FILE \"${PROJECT_SOURCE_DIR}/dist/systemd/hardening.conf\")
    include(\"${PROJECT_SOURCE_DIR}/cmake/render_unit.cmake\")")
endforeach()
install(FILES dist/systemd/polku.sysusers DESTINATION lib/sysusers.d
        RENAME polku.conf)
install(FILES dist/systemd/polku.tmpfiles DESTINATION lib/tmpfiles.d
        RENAME polku.conf)

# ---- the Debian package ----
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "polku")
set(CPACK_PACKAGE_VERSION "${POLKU_VERSION_TEXT}") # again when packaging:
set(CPACK_PROJECT_CONFIG_FILE "${PROJECT_SOURCE_DIR}/cmake/cpack_project.cmake")
set(CPACK_POLKU_SOURCE_DIR "${PROJECT_SOURCE_DIR}")
set(CPACK_POLKU_BASE_VERSION "${PROJECT_VERSION}")
set(CPACK_STRIP_FILES TRUE)
set(CPACK_PACKAGE_VENDOR "polku")
set(CPACK_PACKAGE_CONTACT "polku maintainers <polku@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "referrals and handovers between the organisations around one person")
set(CPACK_PACKAGE_DESCRIPTION
    "A message-driven referral broker (polku-broker), one agent per\n\
organisation with its own LMDB store (polku-agent) and the polku CLI,\n\
with systemd units and manual pages.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT") # polku_VERSION_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/dist/debian/postinst")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
