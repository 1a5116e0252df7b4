#include <autostem/strategies/torch.hpp>

#include <autostem/strategies/atomnet.hpp>
#include <autostem/strategies/dkl.hpp>
#include <autostem/strategies/registry.hpp>

namespace autostem::strategies {

void register_torch_strategies() {
  // Each LibTorch strategy adds its register_strategy() call here.
  register_strategy({dkl_strategy_schema(), make_dkl_strategy});
  register_strategy({gp_strategy_schema(), make_gp_strategy});
  register_dcnn();  // the "dcnn" atom finder and strategy (atomnet_finder.cpp)
}

}  // namespace autostem::strategies
