# ISOSCOPE_STATIC_DEPS: yaml-cpp, SQLite, libseccomp and libcap are linked
# from their static archives (in the same Debian -dev packages) instead of
# as shared libraries. Every isoscope process maps, relocates and looks up
# symbols in each shared library it loads, at each run; these four cost
# about 0.5 ms of CPU of a start-up measured here. A library whose archive
# is missing stays shared.
foreach(dep IN ITEMS yaml-cpp sqlite3 seccomp cap)
  string(MAKE_C_IDENTIFIER "ISOSCOPE_${dep}_ARCHIVE" var)
  string(TOUPPER "${var}" var)
  find_library(${var} NAMES lib${dep}.a)
  mark_as_advanced(${var})
endforeach()
if(ISOSCOPE_YAML_CPP_ARCHIVE)
  # Debian's yaml-cpp config names only a no-configuration location.
  set_target_properties(yaml-cpp PROPERTIES
    IMPORTED_LOCATION_NONE "${ISOSCOPE_YAML_CPP_ARCHIVE}"
    IMPORTED_LOCATION "${ISOSCOPE_YAML_CPP_ARCHIVE}"
    IMPORTED_NO_SONAME TRUE)
endif()
if(ISOSCOPE_SQLITE3_ARCHIVE)
  set_target_properties(SQLite::SQLite3 PROPERTIES
    IMPORTED_LOCATION "${ISOSCOPE_SQLITE3_ARCHIVE}")
endif()
if(ISOSCOPE_SECCOMP_ARCHIVE)
  set_target_properties(PkgConfig::SECCOMP PROPERTIES
    INTERFACE_LINK_LIBRARIES "${ISOSCOPE_SECCOMP_ARCHIVE}")
endif()
if(ISOSCOPE_CAP_ARCHIVE)
  set_target_properties(PkgConfig::LIBCAP PROPERTIES
    INTERFACE_LINK_LIBRARIES "${ISOSCOPE_CAP_ARCHIVE}")
endif()
