// autostem — simulate, estimate and run adaptive STEM acquisition. One subcommand per task;
// `autostem SUBCOMMAND --help` documents each.

#include "cli.hpp"

#include <autostem/config.hpp>
#include <autostem/imaging/fista.hpp>
#ifdef AUTOSTEM_HAVE_TORCH
#include <autostem/strategies/torch.hpp>
#endif

#include <exception>
#include <iostream>
#include <string>
#include <vector>

#ifdef AUTOSTEM_HAVE_TORCH
namespace autostem::cli {
/// autostem train-atoms (cmd_train_atoms.cpp): trains the dcnn ensemble on the lattice phantom.
int cmd_train_atoms(const std::vector<std::string>& args);
}  // namespace autostem::cli
#endif

namespace {

const char* kUsage =
    "autostem " AUTOSTEM_VERSION " — simulate, estimate and run adaptive STEM acquisition\n"
    "\n"
    "usage: autostem SUBCOMMAND [options]   (autostem SUBCOMMAND --help for its options)\n"
    "\n"
    "  run        replay a strategy on ground truth (a spectrum image + survey, or a phantom)\n"
    "             in the simulated microscope; writes an HDF5 results file\n"
    "  bench      compare strategies: datasets/phantoms x strategies x seeds, in parallel;\n"
    "             summary.csv, summary.md, per-run HDF5 files and PNG plots\n"
    "  estimate   time and dose of a plan from an instrument timing profile, no ground truth\n"
    "  reconstruct  full map (or spectrum image) from a run's sparse measurements: nearest,\n"
    "             linear, biharmonic, tv, fista; writes HyperSpy .hspy\n"
    "  report     one self-contained HTML page of a finished run (RUN.h5) or of a bench folder\n"
    "  convert    any supported file (DM3/DM4, SER, EMD, .npy) to HyperSpy .hspy\n"
    "  atoms      find the atoms of an atomic-resolution image (LoG or dcnn): CSV + PNG overlay\n"
#ifdef AUTOSTEM_HAVE_TORCH
    "  train-atoms  train the dcnn atom-finding ensemble on the lattice phantom (models/atoms)\n"
#endif
    "  strain     NBED 4D-STEM strain maps and the reference basis of the strain_* scalarizers\n"
    "  dpc        4D-STEM centre-of-mass (DPC) maps, the detector's scan rotation and flip, iDPC\n"
    "  strategies list every acquisition strategy and its parameters (--markdown: docs table)\n"
    "  info       describe a data file: kind, shape with axis names, dtype, calibrations\n"
    "  profiles   list the built-in timing profiles and their parameters\n"
    "  dm-server  serve a simulated microscope through the live DigitalMicrograph server\n"
    "             (--fake): rehearse `run --backend dm` without a microscope\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::cout << "autostem " << AUTOSTEM_VERSION << "\n";
    return 0;
  }
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
  const std::string sub = args[0];
#ifdef AUTOSTEM_HAVE_TORCH
  // dkl, gp and dcnn join the strategy registry (autostem::strategies_torch).
  autostem::strategies::register_torch_strategies();
#endif
  args.erase(args.begin());
  try {
    if (sub == "run") return autostem::cli::cmd_run(args, command_line);
    if (sub == "estimate") return autostem::cli::cmd_estimate(args);
    if (sub == "info") return autostem::cli::cmd_info(args);
    if (sub == "reconstruct") return autostem::cli::cmd_reconstruct(args);
    if (sub == "profiles") return autostem::cli::cmd_profiles(args);
    if (sub == "bench") return autostem::cli::cmd_bench(args);
    if (sub == "convert") return autostem::cli::cmd_convert(args);
    if (sub == "report") return autostem::cli::cmd_report(args);
    if (sub == "dm-server") return autostem::cli::cmd_dm_server(args);
    if (sub == "atoms") return autostem::cli::cmd_atoms(args);
    if (sub == "strategies") return autostem::cli::cmd_strategies(args);
    if (sub == "strain") return autostem::cli::cmd_strain(args);
    if (sub == "dpc") return autostem::cli::cmd_dpc(args);
#ifdef AUTOSTEM_HAVE_TORCH
    if (sub == "train-atoms") return autostem::cli::cmd_train_atoms(args);
#endif
    std::cerr << "autostem: unknown subcommand '" << sub
              << "'; valid: run, bench, report, convert, estimate, reconstruct, info, profiles, dm-server, atoms, strain, dpc, strategies (autostem --help)\n";
    return 2;
  } catch (const autostem::cli::UsageError& e) {
    std::cerr << "autostem " << sub << ": " << e.what() << " (autostem " << sub << " --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "autostem " << sub << ": error: " << e.what() << "\n";
    return 1;
  }
}
