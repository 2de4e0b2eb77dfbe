# Install rules beyond the targets' own (the binary, its man pages and bash
# completion in supervisor/cli, the built-in workloads in workloads/), and the
# Debian package CPack builds from them (scripts/package.sh).
#
# An installed isoscope finds everything from its own path: the presets are
# compiled in, the workloads are in <bindir>/../libexec/isoscope/workloads.
# The preset files installed here are for people to read and copy.
install(FILES
  ${PROJECT_SOURCE_DIR}/policies/presets/permissive.yaml
  ${PROJECT_SOURCE_DIR}/policies/presets/default.yaml
  ${PROJECT_SOURCE_DIR}/policies/presets/strict.yaml
  DESTINATION ${CMAKE_INSTALL_DATADIR}/isoscope/presets)
install(FILES
  ${PROJECT_SOURCE_DIR}/README.md
  ${PROJECT_SOURCE_DIR}/reports/schema.json
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/policies/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/policies)
install(FILES
  ${PROJECT_SOURCE_DIR}/docs/robustness.md
  ${PROJECT_SOURCE_DIR}/docs/report.png
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME isoscope)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "run a workload natively, under ptrace, in a container and in a KVM VM, and measure each")
set(CPACK_PACKAGE_DESCRIPTION
    "isoscope runs one Linux x86-64 workload at several points of the isolation
spectrum (a plain process, ptrace with seccomp, a container built from kernel
primitives, a KVM virtual machine run by its own VMM) under one YAML policy,
records what each costs and what each stops, and renders reports.")
set(CPACK_PACKAGE_CONTACT "isoscope developers <isoscope@invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR})
# isoscope_<version>_<arch>.deb
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
# Depends: from the libraries the binary links (dpkg-shlibdeps), so the
# package names the versions this build needs.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bash-completion")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only the binary: the workloads are small static programs already, and
# their bytes are what the tests measured.
set(CPACK_STRIP_FILES ${CMAKE_INSTALL_BINDIR}/isoscope)
include(CPack)
