# Optional parts (LibTorch strategies, the live DM client, the Python binding and the tests that
# need them) are built when their Debian packages are installed. A developer machine without one
# builds the rest and is told loudly what is left out; under CI (environment variable CI=true, set
# by CI services and by .ci/run) a missing optional dependency is a configure error, so that no
# suite vanishes silently from a CI run (issue 14).

# autostem_optional_missing(<what is not built> <Debian packages that provide it>)
function(autostem_optional_missing what packages)
  if("$ENV{CI}" STREQUAL "true")
    message(FATAL_ERROR "CI=true: ${what} cannot be built: install the Debian package(s) "
                        "${packages} (scripts/install-deps.sh). Under CI every optional part and "
                        "its tests must build and run.")
  endif()
  message(WARNING "autostem: ${what} is NOT built and its tests will NOT run "
                  "(apt-get install ${packages}; CI=true makes this an error)")
endfunction()
