#pragma once
// Shared pieces of the command line: subcommand signature, errors, terminal progress, JSON.

#include <autostem/core/session.hpp>

#include <boost/program_options.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem::cli {

namespace po = boost::program_options;

/// A usage error: printed as one line with a hint to --help, exit status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Each subcommand: args are the words after the subcommand name; argv0 for messages; returns the
/// process exit status.
int cmd_info(const std::vector<std::string>& args);
int cmd_run(const std::vector<std::string>& args, const std::string& command_line);
int cmd_estimate(const std::vector<std::string>& args);
int cmd_profiles(const std::vector<std::string>& args);
/// autostem reconstruct: a full map or spectrum image from a run's sparse measurements.
int cmd_reconstruct(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);
int cmd_convert(const std::vector<std::string>& args);
/// autostem report RUN.h5|BENCH_DIR --out report.html (cmd_report.cpp, issue 18).
int cmd_report(const std::vector<std::string>& args);
int cmd_dm_server(const std::vector<std::string>& args);
/// autostem atoms IMAGE --out atoms.csv: atoms of an atomic-resolution image (issue 9).
int cmd_atoms(const std::vector<std::string>& args);
/// autostem strain FILE: NBED strain maps and the strain_* scalarizers' reference basis (issue 19).
int cmd_strain(const std::vector<std::string>& args);
/// autostem dpc FILE: CoM (DPC) maps in the scan frame, the scan rotation and flip, iDPC (issue 19).
int cmd_dpc(const std::vector<std::string>& args);
/// autostem strategies (cmd_strategies.cpp): every strategy's parameters, from the schemas.
int cmd_strategies(const std::vector<std::string>& args);

/// Parses args against options (no positional unless given); prints help and returns true when
/// --help was asked. Throws UsageError on unknown options or bad values.
bool parse(const std::vector<std::string>& args, const po::options_description& options,
           po::variables_map& vm, const std::string& usage,
           const po::positional_options_description* positional = nullptr);

/// "128x128" → (128, 128). Throws UsageError.
std::pair<std::size_t, std::size_t> parse_shape(const std::string& text);

/// Refuses (UsageError naming the option) a negative value given to an unsigned option and a
/// non-finite value (nan, inf) given to a floating-point one. parse() calls it on every command.
void check_numbers(const po::parsed_options& parsed, const po::options_description& options);

/// Refuses a request that cannot fit in this computer's memory before any work starts:
/// UsageError "WHAT needs ≈ X GiB of memory (DETAIL); this computer has Y GiB" when bytes
/// exceeds 80 % of the physical memory (sysconf). bytes: the estimate; detail: how it was made.
void check_memory(const std::string& what, double bytes, const std::string& detail);

/// check_memory for a built-in phantom of rows × cols pixels: ≈ 2 KiB per pixel (measured: the
/// nanowire phantom's peak resident memory grew 1.7 KiB per pixel from 256² to 512²), or
/// bytes_per_pixel when given (a 4D phantom: its patterns, see fourd_phantom_bytes_per_pixel).
void check_phantom_memory(std::size_t rows, std::size_t cols, double bytes_per_pixel = 2048.0);

/// Human-readable duration: "4.1 s", "9 min 41 s", "1 h 20 min".
std::string format_duration(double seconds);

/// A progress line on stderr when it is a terminal, redrawn at most 10 times a second.
class Progress {
 public:
  explicit Progress(std::string label);
  void update(const SessionProgress& p);
  void finish();

 private:
  std::string label_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

/// Installs a SIGINT/SIGTERM handler that sets the returned flag (a second Ctrl-C exits at once).
const std::atomic<bool>& install_stop_handler();

}  // namespace autostem::cli
