# ISOSCOPE_STATIC_DEPS: yaml-cpp, SQLite, libseccomp and libcap are linked
# from their static archives (in the same Debian -dev packages) instead of
# as shared libraries. Every isoscope process maps, relocates and looks up
# symbols in each shared library it loads, at each run; these four cost
# about 0.5 ms of CPU of a start-up measured here. A library whose archive
# is missing stays shared.
#
# fmt's compiled part is built from its headers (base/fmt_impl.cc) rather
# than taken from the shared libfmt, and the isoscope executable links
# libstdc++ and libgcc statically (supervisor/cli): libfmt.so alone would
# load the shared libstdc++ again. Loading the shared libstdc++, libgcc_s
# and libfmt cost about 1.1-1.3 ms of CPU of each `isoscope run` measured
# here (interleaved whole processes, 150 each: `isoscope --version` 3.9 ms
# against 2.8 ms, a native run 9.0 ms against 7.7 ms, on a loaded 2-vCPU
# VM).
add_library(isoscope_fmt STATIC ${PROJECT_SOURCE_DIR}/base/fmt_impl.cc)
target_include_directories(isoscope_fmt INTERFACE
  $<TARGET_PROPERTY:fmt::fmt,INTERFACE_INCLUDE_DIRECTORIES>)
set_target_properties(isoscope_fmt PROPERTIES POSITION_INDEPENDENT_CODE ON)
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
