#pragma once
// The backends of `autostem run --backend NAME`: where the measurements come from. Adding one =
// one Backend class + one registration line in backend_registry() (backend_options.cpp).

#include "cli.hpp"

#include <autostem/core/ground_truth.hpp>

#include <memory>
#include <string>

namespace autostem {
class Instrument;
}

namespace autostem::cli {

/// One backend of `autostem run`.
class Backend {
 public:
  virtual ~Backend() = default;
  /// True when it measures a real sample: no ground truth, so --phantom/--dataset/--survey do not
  /// apply and the results' profile reads "live".
  virtual bool live() const = 0;
  /// The command-line options it reads (added to `autostem run`'s).
  virtual void add_options(po::options_description&) const {}
  /// The instrument. truth: the ground truth to measure (empty for a live backend). Throws
  /// UsageError for missing or bad options, and what the instrument's constructor throws.
  virtual std::unique_ptr<Instrument> make(const po::variables_map& vm, GroundTruth truth) const = 0;
};

/// Adds --backend (listing every registered backend) and each backend's own options.
void add_backend_options(po::options_description& options);

/// The backend named by --backend. Throws UsageError for an unknown name, listing the valid ones.
std::shared_ptr<const Backend> selected_backend(const po::variables_map& vm);

}  // namespace autostem::cli
