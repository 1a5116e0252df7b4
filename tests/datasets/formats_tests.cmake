# Tests of the vendor-format readers (DM3/DM4, SER, EMD). Included by tests/datasets/CMakeLists.txt.
# They reach the private in-memory entry points and the fixture writer in datasets/src/formats/,
# and write Berkeley/Velox EMD fixtures with the HDF5 C API.
autostem_add_test(NAME test_formats
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/test_dm.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_dm_robustness.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_ser.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_emd.cpp
  LIBS autostem::datasets ${HDF5_C_LIBRARIES}
  LABELS unit)
target_include_directories(test_formats PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/../../datasets/src/formats ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})

# Quantum Detectors Merlin .mib reader (4D-STEM, issue 19): the real fixtures of MANIFEST
# 4dstem/merlin and the FPD HDF5 file, plus interrupted and damaged copies written here.
autostem_add_test(NAME test_mib
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mib.cpp
  LIBS autostem::datasets
  LABELS unit)

# Pattern scalarizers (CoM, virtual detectors, scan rotation) and the probe × transmission model
# against theory and against NumPy sums over the real Merlin frames (issue 19).
autostem_add_test(NAME test_fourd
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fourd.cpp
  LIBS autostem::datasets autostem::imaging nlohmann_json::nlohmann_json
  LABELS unit)
