#pragma once
// Entry point of autostem::strategies_torch (LibTorch). This header does not include LibTorch.

namespace autostem::strategies {

/// Adds the LibTorch strategies (dkl, gp, dcnn) to the strategy registry (registry.hpp). Call
/// once at start-up, before make_strategy(); calling again is harmless. Also limits LibTorch to
/// the thread count that is fastest for small models here (DESIGN.md §11), unless the
/// AUTOSTEM_TORCH_THREADS environment variable says otherwise.
void register_torch_strategies();

}  // namespace autostem::strategies
