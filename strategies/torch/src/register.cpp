#include <autostem/strategies/torch.hpp>

#include <autostem/strategies/registry.hpp>

namespace autostem::strategies {

void register_torch_strategies() {
  // Each LibTorch strategy adds its register_strategy() call here.
}

}  // namespace autostem::strategies
