#pragma once
// Internal to autostem::datasets: the `lattice` entry of make_phantom (datasets/src/lattice.cpp).
#include <autostem/core/ground_truth.hpp>

#include <cstddef>
#include <cstdint>

namespace autostem::datasets::detail {

/// make_phantom("lattice", seed, rows, cols); documented at make_phantom.
GroundTruth lattice_phantom(std::uint64_t seed, std::size_t rows, std::size_t cols);

}  // namespace autostem::datasets::detail
