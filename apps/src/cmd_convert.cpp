// autostem convert FILE OUT: any supported file → HyperSpy HDF5 (.hspy), the ground-truth
// format `autostem run --dataset/--survey` reads and HyperSpy loads.

#include "cli.hpp"
#include "hyperspy_metadata.hpp"

#include <autostem/datasets/hspy.hpp>
#include <autostem/datasets/signal.hpp>

#include <cstdio>
#include <filesystem>

namespace autostem::cli {

int cmd_convert(const std::vector<std::string>& args) {
  po::options_description o("autostem convert options");
  o.add_options()("help,h", "this help")("file", po::value<std::string>()->required(), "input file")(
      "out", po::value<std::string>()->required(), "output file (.hspy or .h5)")(
      "index", po::value<std::size_t>()->default_value(0),
      "which data set of a multi-image file (autostem info lists them)");
  po::positional_options_description pos;
  pos.add("file", 1).add("out", 1);
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem convert FILE OUT [--index N]\n"
            "Converts one data set of FILE (DM3/DM4, FEI SER, EMD, .npy, .hspy — chosen by content)\n"
            "to HyperSpy's HDF5 layout with every axis calibration: loadable by HyperSpy\n"
            "(hs.load) and readable by `autostem run --dataset/--survey`.",
            &pos))
    return 0;
  const std::string in = vm["file"].as<std::string>(), out = vm["out"].as<std::string>();
  const auto signals = datasets::read_signals(in);
  const std::size_t index = vm["index"].as<std::size_t>();
  if (index >= signals.size())
    throw UsageError("--index " + std::to_string(index) + ": " + in + " holds " +
                     std::to_string(signals.size()) + " data set(s)");
  if (std::filesystem::absolute(in) == std::filesystem::absolute(out))
    throw UsageError("OUT must differ from FILE");
  // The file's tags go to original_metadata, instrument settings to Acquisition_instrument, as
  // HyperSpy's own readers lay them out (issue 20; hyperspy_metadata.hpp).
  datasets::Signal s = signals[index];
  s.metadata = hyperspy_metadata(s, in);
  datasets::write_hspy(out, s);
  std::printf("%s [%zu] → %s (HyperSpy HDF5)\n", in.c_str(), index, out.c_str());
  return 0;
}

}  // namespace autostem::cli
