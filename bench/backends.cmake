# The live DigitalMicrograph backend on loopback against the fake DM (needs the live client and
# the autostem_sim binding; skipped otherwise).
if(AUTOSTEM_HAVE_DM_CLIENT AND TARGET autostem_sim_py)
  autostem_add_benchmark(bench_dm
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_dm.cpp
    LIBS autostem::backends_dm autostem::backends autostem::datasets nlohmann_json::nlohmann_json
         Threads::Threads)
  target_include_directories(bench_dm PRIVATE ${PROJECT_SOURCE_DIR}/tests/backends)
  target_compile_definitions(bench_dm PRIVATE
    AUTOSTEM_DM_PYTHON="${AUTOSTEM_PYTHON3}"
    AUTOSTEM_DM_SERVER_SCRIPT="${PROJECT_SOURCE_DIR}/backends/dm/server/autostem_dm_server.py"
    AUTOSTEM_DM_FAKE_DIR="${PROJECT_SOURCE_DIR}/backends/dm/fake"
    AUTOSTEM_PYTHON_MODULE_DIR="${AUTOSTEM_PYTHON_MODULE_DIR}")
  add_dependencies(bench_dm autostem_sim_py)
  # The seed's encoding (nested lists through python3-serpent) next to the binary frames.
  if(AUTOSTEM_BUILD_TESTS)
    add_test(NAME bench_dm_serpent_smoke
      COMMAND ${AUTOSTEM_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/bench_dm_serpent.py --quick)
    set_tests_properties(bench_dm_serpent_smoke PROPERTIES LABELS bench-smoke
      ENVIRONMENT "PYTHONPATH=${PROJECT_SOURCE_DIR}/backends/dm/server;PYTHONDONTWRITEBYTECODE=1")
  endif()
endif()
