# Writes the build's version into OUT (run at every build by the
# paxlock_version_gen target; configure_file leaves OUT alone when nothing
# changed, so a commit recompiles one file). Inputs: SRC, IN, OUT, VERSION,
# BUILD_TYPE.
execute_process(
  COMMAND git -C "${SRC}" describe --always --dirty --tags
  OUTPUT_VARIABLE PAXLOCK_GIT
  OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR PAXLOCK_GIT STREQUAL "")
  set(PAXLOCK_GIT "unknown")
endif()
set(PAXLOCK_VERSION "${VERSION}")
set(PAXLOCK_BUILD_TYPE "${BUILD_TYPE}")
if(PAXLOCK_BUILD_TYPE STREQUAL "")
  set(PAXLOCK_BUILD_TYPE "none")
endif()
configure_file("${IN}" "${OUT}" @ONLY)
