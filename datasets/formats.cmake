# Vendor-format readers: DigitalMicrograph DM3/DM4, FEI/TIA SER (+EMI), EMD (Berkeley, Velox).
# Included by datasets/CMakeLists.txt; HDF5 stays private.
set(AUTOSTEM_HAVE_FORMATS ON)
target_sources(autostem_datasets PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/src/formats/dm_tags.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/formats/dm_image.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/formats/dm_write.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/formats/transpose.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/formats/ser.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/formats/emd.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/formats/mib.cpp
)
