#!/bin/sh
# cmake/gen-config.sh — writes daemon3143Config.cmake and
# daemon3143ConfigVersion.cmake into DIR, for `make install`:
#
#   sh cmake/gen-config.sh DIR PREFIX LIBDIR INCLUDEDIR CMAKEDIR VERSION ABI
#
# PREFIX, LIBDIR, INCLUDEDIR and CMAKEDIR are the final (DESTDIR-less) paths.
# The config is relocatable: it finds the prefix from its own location
# (CMAKEDIR below PREFIX), so a DESTDIR tree or a moved prefix works too;
# a LIBDIR or INCLUDEDIR outside PREFIX is written as an absolute path.
#
# Imported targets: daemon3143::daemon3143 (the shared library) and
# daemon3143::daemon3143_static (libdaemon3143.a, with the system libraries
# a Rust staticlib needs, as the .pc file's Libs.private).
set -eu

[ $# -eq 7 ] || {
	echo "usage: $0 DIR PREFIX LIBDIR INCLUDEDIR CMAKEDIR VERSION ABI" >&2
	exit 2
}
dir=$1 prefix=${2%/} libdir=${3%/} incdir=${4%/} cmakedir=${5%/} version=$6 abi=$7

# rel PATH: PATH below PREFIX as ${_d3143_prefix}/..., else PATH as it is.
rel() {
	case $1 in
	"$prefix") echo '${_d3143_prefix}' ;;
	"$prefix"/*) echo '${_d3143_prefix}'"${1#"$prefix"}" ;;
	*) echo "$1" ;;
	esac
}

case $cmakedir in
"$prefix"/*)
	# One "/.." per component of CMAKEDIR below PREFIX.
	up=$(echo "${cmakedir#"$prefix"/}" | sed 's|[^/][^/]*|..|g')
	prefix_expr='get_filename_component(_d3143_prefix "${CMAKE_CURRENT_LIST_DIR}/'"$up"'" ABSOLUTE)'
	;;
*)
	prefix_expr="set(_d3143_prefix \"$prefix\")"
	;;
esac
lib=$(rel "$libdir")
inc=$(rel "$incdir")
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
ptr=$(($(getconf LONG_BIT) / 8))

cat >"$dir/daemon3143Config.cmake" <<EOF
# daemon3143Config.cmake — libdaemon3143 $version, written by \`make install\`.
#
#   find_package(daemon3143 CONFIG REQUIRED)
#   target_link_libraries(mydaemon PRIVATE daemon3143::daemon3143)        # shared
#   target_link_libraries(mydaemon PRIVATE daemon3143::daemon3143_static) # static
#
# Also sets daemon3143_VERSION, daemon3143_INCLUDE_DIRS, daemon3143_LIBRARIES.
cmake_minimum_required(VERSION 3.5)

$prefix_expr
set(_d3143_libdir "$lib")
set(_d3143_incdir "$inc")

foreach(_d3143_file "\${_d3143_incdir}/daemon3143.h"
		"\${_d3143_libdir}/libdaemon3143.so.$version" "\${_d3143_libdir}/libdaemon3143.a")
	if(NOT EXISTS "\${_d3143_file}")
		set(daemon3143_FOUND FALSE)
		set(daemon3143_NOT_FOUND_MESSAGE "libdaemon3143 $version: \${_d3143_file} is missing")
		return()
	endif()
endforeach()

if(NOT TARGET daemon3143::daemon3143)
	add_library(daemon3143::daemon3143 SHARED IMPORTED)
	set_target_properties(daemon3143::daemon3143 PROPERTIES
		IMPORTED_LOCATION "\${_d3143_libdir}/libdaemon3143.so.$version"
		IMPORTED_SONAME "libdaemon3143.so.$abi"
		INTERFACE_INCLUDE_DIRECTORIES "\${_d3143_incdir}")
endif()
if(NOT TARGET daemon3143::daemon3143_static)
	add_library(daemon3143::daemon3143_static STATIC IMPORTED)
	set_target_properties(daemon3143::daemon3143_static PROPERTIES
		IMPORTED_LOCATION "\${_d3143_libdir}/libdaemon3143.a"
		IMPORTED_LINK_INTERFACE_LANGUAGES "C"
		INTERFACE_INCLUDE_DIRECTORIES "\${_d3143_incdir}"
		INTERFACE_LINK_LIBRARIES "c;m;rt;pthread;gcc_eh")
endif()

set(daemon3143_VERSION "$version")
set(daemon3143_INCLUDE_DIRS "\${_d3143_incdir}")
set(daemon3143_LIBRARIES daemon3143::daemon3143)
unset(_d3143_file)
unset(_d3143_prefix)
unset(_d3143_libdir)
unset(_d3143_incdir)
EOF

cat >"$dir/daemon3143ConfigVersion.cmake" <<EOF
# daemon3143ConfigVersion.cmake — libdaemon3143 $version, written by \`make install\`.
# Compatible: the same major version, not older than asked for; while the
# major version is 0, the same minor version too.
set(PACKAGE_VERSION "$version")
set(PACKAGE_VERSION_COMPATIBLE FALSE)
set(PACKAGE_VERSION_EXACT FALSE)
if(NOT PACKAGE_FIND_VERSION)
	set(PACKAGE_VERSION_COMPATIBLE TRUE)
elseif(NOT PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION
		AND PACKAGE_FIND_VERSION_MAJOR EQUAL $major
		AND (NOT $major EQUAL 0 OR PACKAGE_FIND_VERSION_MINOR EQUAL $minor))
	set(PACKAGE_VERSION_COMPATIBLE TRUE)
	if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
		set(PACKAGE_VERSION_EXACT TRUE)
	endif()
endif()
# A build for another pointer size cannot use this library.
if(CMAKE_SIZEOF_VOID_P AND NOT CMAKE_SIZEOF_VOID_P EQUAL $ptr)
	math(EXPR _d3143_bits "$ptr * 8")
	set(PACKAGE_VERSION "\${PACKAGE_VERSION} (\${_d3143_bits}-bit)")
	set(PACKAGE_VERSION_UNSUITABLE TRUE)
	unset(_d3143_bits)
endif()
EOF
