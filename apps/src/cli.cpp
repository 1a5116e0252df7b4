#include "cli.hpp"

#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace autostem::cli {

namespace {

template <class T>
bool holds(const po::option_description& d) {
  return dynamic_cast<const po::typed_value<T>*>(d.semantic().get()) != nullptr;
}

std::string trimmed(const std::string& s) {
  const auto a = s.find_first_not_of(" \t");
  return a == std::string::npos ? std::string() : s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

}  // namespace

// Boost parses "-1" into an unsigned option as 2^64 − 1 and "nan" into a double as NaN, so a
// mistyped count runs unbounded and a NaN travels into the models: refuse both by the option's
// declared type, for every subcommand, before anything runs.
void check_numbers(const po::parsed_options& parsed, const po::options_description& options) {
  for (const po::option& o : parsed.options) {
    if (o.unregistered || o.string_key.empty()) continue;
    const po::option_description* d = options.find_nothrow(o.string_key, false);
    if (!d) continue;
    const bool is_unsigned = holds<std::size_t>(*d) || holds<unsigned>(*d) || holds<std::uint64_t>(*d);
    const bool is_real = holds<double>(*d) || holds<float>(*d);
    for (const std::string& raw : o.value) {
      const std::string v = trimmed(raw);
      if (is_unsigned && !v.empty() && v[0] == '-')
        throw UsageError("--" + o.string_key + " '" + raw + "': a count cannot be negative (give 0 or more)");
      if (is_real) {
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (end != v.c_str() && !std::isfinite(x))
          throw UsageError("--" + o.string_key + " '" + raw + "' is not a finite number");
      }
    }
  }
}

bool parse(const std::vector<std::string>& args, const po::options_description& options,
           po::variables_map& vm, const std::string& usage,
           const po::positional_options_description* positional) {
  try {
    auto parser = po::command_line_parser(args).options(options);
    if (positional) parser.positional(*positional);
    const po::parsed_options parsed = parser.run();
    check_numbers(parsed, options);
    po::store(parsed, vm);
    if (vm.count("help")) {
      std::cout << usage << "\n\n" << options << "\n";
      return true;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return false;
}

std::pair<std::size_t, std::size_t> parse_shape(const std::string& text) {
  const auto x = text.find_first_of("xX×");
  try {
    if (x == std::string::npos || text.find('-') != std::string::npos) throw std::invalid_argument("no x");
    std::size_t used = 0;
    const unsigned long r = std::stoul(text.substr(0, x), &used);
    if (used != x) throw std::invalid_argument("rows");
    const std::string rest = text.substr(text.find_first_not_of("xX×", x));
    const unsigned long c = std::stoul(rest, &used);
    if (used != rest.size() || r == 0 || c == 0) throw std::invalid_argument("cols");
    return {r, c};
  } catch (const std::exception&) {
    throw UsageError("--shape '" + text + "' is not ROWSxCOLS with both > 0 (e.g. 128x128)");
  }
}

void check_memory(const std::string& what, double bytes, const std::string& detail) {
  const double physical = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (!(physical > 0.0) || bytes <= 0.8 * physical) return;
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(1);
  o << what << " needs ≈ " << bytes / 1073741824.0 << " GiB of memory (" << detail << "); this computer has "
    << physical / 1073741824.0 << " GiB";
  throw UsageError(o.str());
}

void check_phantom_memory(std::size_t rows, std::size_t cols, double bytes_per_pixel) {
  std::ostringstream detail;
  detail.precision(3);
  detail << "≈ " << bytes_per_pixel / 1024.0 << " KiB per pixel for its "
         << (bytes_per_pixel > 2048.0 ? "diffraction patterns" : "spectra") << " and maps";
  check_memory("a " + std::to_string(rows) + "x" + std::to_string(cols) + " phantom",
               bytes_per_pixel * static_cast<double>(rows) * static_cast<double>(cols) + 200e6, detail.str());
}

std::string format_duration(double s) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  if (s < 60.0) {
    o.precision(s < 1.0 ? 3 : 1);
    o << s << " s";
  } else if (s < 3600.0) {
    o << static_cast<long>(s / 60) << " min " << static_cast<long>(s) % 60 << " s";
  } else {
    o << static_cast<long>(s / 3600) << " h " << static_cast<long>(s / 60) % 60 << " min";
  }
  return o.str();
}

Progress::Progress(std::string label) : label_(std::move(label)), tty_(isatty(STDERR_FILENO)) {}

void Progress::update(const SessionProgress& p) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  drawn_ = true;
  const double frac = p.budget_points ? std::min(1.0, double(p.measurements) / p.budget_points) : 0;
  const int width = 30, filled = static_cast<int>(frac * width);
  std::fprintf(stderr, "\r%s [%s%s] %zu/%zu  t=%s  dose=%.3g e-/A^2   ", label_.c_str(),
               std::string(filled, '#').c_str(), std::string(width - filled, ' ').c_str(),
               p.measurements, p.budget_points, format_duration(p.time_s).c_str(), p.dose_e_per_A2);
  std::fflush(stderr);
}

void Progress::finish() {
  if (tty_ && drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) {
  if (g_stop.exchange(true)) std::_Exit(130);
}
}  // namespace

const std::atomic<bool>& install_stop_handler() {
  g_stop = false;  // a process that runs several commands (the Python package) starts each afresh
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  return g_stop;
}

}  // namespace autostem::cli
