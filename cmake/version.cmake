# version.cmake — polku's version, from git, at build time.
#
# Why: `--version` and the Debian package must say which commit they were
# built from, and a committed version file would go stale at the next
# commit. The version is "X.Y.Z" from the newest tag vX.Y.Z, or the
# project's version when there is no tag, followed by "+N.gHASH" (N commits
# after the tag; absent on the tag itself) and ".dirty" for a work tree
# with uncommitted changes to tracked files. Outside a git checkout (a
# source tarball) it is the project version alone.
#
# Two uses:
#   include(cmake/version.cmake) + polku_git_version(VAR BASE SRC)
#       at configure time (CPack's package version);
#   cmake -DSRC=... -DBASE=... -DOUT=... -P cmake/version.cmake
#       at build time: writes OUT (a C header defining POLKU_VERSION)
#       only when the text changes, so an unchanged version rebuilds nothing.

function(polku_git_version out base src)
  set(version "${base}")
  find_package(Git QUIET)
  if(GIT_FOUND)
    execute_process(
      COMMAND "${GIT_EXECUTABLE}" -C "${src}" describe --tags --long
              --match "v[0-9]*" --dirty=.dirty
      OUTPUT_VARIABLE described OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE tagged ERROR_QUIET)
    if(tagged EQUAL 0 AND described MATCHES
       "^v([0-9][0-9.]*)-([0-9]+)-g([0-9a-f]+)(\\.dirty)?$")
      set(version "${CMAKE_MATCH_1}")
      if(NOT CMAKE_MATCH_2 STREQUAL "0")
        string(APPEND version "+${CMAKE_MATCH_2}.g${CMAKE_MATCH_3}")
      endif()
      string(APPEND version "${CMAKE_MATCH_4}")
    else()
      execute_process(
        COMMAND "${GIT_EXECUTABLE}" -C "${src}" describe --always
                --abbrev=10 --dirty=.dirty
        OUTPUT_VARIABLE hash OUTPUT_STRIP_TRAILING_WHITESPACE
        RESULT_VARIABLE hashed ERROR_QUIET)
      if(hashed EQUAL 0 AND hash MATCHES "^([0-9a-f]+)(\\.dirty)?$")
        set(version "${base}+g${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
      endif()
    endif()
  endif()
  set(${out} "${version}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND DEFINED OUT)
  polku_git_version(version "${BASE}" "${SRC}")
  set(text "/* Generated at build time by cmake/version.cmake; not committed. */\n#define POLKU_VERSION \"${version}\"\n")
  if(EXISTS "${OUT}")
    file(READ "${OUT}" old)
  else()
    set(old "")
  endif()
  if(NOT old STREQUAL text)
    file(WRITE "${OUT}" "${text}")
  endif()
endif()
