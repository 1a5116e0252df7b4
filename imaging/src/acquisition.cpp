#include <autostem/imaging/acquisition.hpp>

#include <autostem/core/random.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace autostem::acquisition {

namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

double norm_cdf(double z) { return 0.5 * std::erfc(-z * kInvSqrt2); }
double norm_pdf(double z) { return kInvSqrt2Pi * std::exp(-0.5 * z * z); }

std::string format_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

double parse_field(const std::string& text, const std::string& field, const char* what) {
  double v = 0.0;
  try {
    std::size_t used = 0;
    v = std::stod(field, &used);
    if (used != field.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw std::invalid_argument("acquisition '" + text + "': " + what + " '" + field +
                                "' is not a number");
  }
  if (!std::isfinite(v) || v < 0.0)
    throw std::invalid_argument("acquisition '" + text + "': " + what + " must be finite and ≥ 0");
  return v;
}

}  // namespace

std::string Spec::spec() const {
  switch (kind) {
    case Kind::ei: return "ei:" + format_number(xi);
    case Kind::ucb: return "ucb:" + format_number(beta);
    case Kind::pi: return "pi:" + format_number(xi);
    case Kind::maxvar: return "maxvar";
    case Kind::thompson: return "thompson";
  }
  return "?";
}

Spec parse_acquisition(const std::string& text) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    const auto colon = text.find(':', start);
    fields.push_back(text.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  const std::string& name = fields[0];
  Spec s;
  const auto no_more = [&](std::size_t allowed) {
    if (fields.size() > allowed)
      throw std::invalid_argument("acquisition '" + text + "': " + name + " takes at most " +
                                  std::to_string(allowed - 1) + " field(s)");
  };
  if (name == "ei" || name == "pi") {
    s.kind = name == "ei" ? Kind::ei : Kind::pi;
    no_more(2);
    if (fields.size() == 2) s.xi = parse_field(text, fields[1], "XI");
  } else if (name == "ucb") {
    s.kind = Kind::ucb;
    no_more(2);
    if (fields.size() == 2) s.beta = parse_field(text, fields[1], "BETA");
  } else if (name == "maxvar" || name == "thompson") {
    s.kind = name == "maxvar" ? Kind::maxvar : Kind::thompson;
    no_more(1);
  } else {
    throw std::invalid_argument("acquisition '" + text +
                                "' is not one of ei[:XI], ucb[:BETA], pi[:XI], maxvar, thompson");
  }
  return s;
}

double expected_improvement(double mu, double sigma, double best, double xi) {
  const double d = mu - best - xi;
  if (!(sigma > 0.0)) return std::max(d, 0.0);
  const double z = d / sigma;
  return d * norm_cdf(z) + sigma * norm_pdf(z);
}

double probability_of_improvement(double mu, double sigma, double best, double xi) {
  const double d = mu - best - xi;
  if (!(sigma > 0.0)) return d > 0.0 ? 1.0 : 0.0;
  return norm_cdf(d / sigma);
}

double upper_confidence_bound(double mu, double sigma, double beta) {
  return mu + std::sqrt(beta) * sigma;
}

Eigen::VectorXd evaluate(const Spec& spec, const Eigen::VectorXd& mean,
                         const Eigen::VectorXd& variance, double best, std::mt19937_64& rng) {
  if (mean.size() != variance.size())
    throw std::invalid_argument("acquisition::evaluate: mean has " + std::to_string(mean.size()) +
                                " values, variance " + std::to_string(variance.size()));
  if (mean.hasNaN() || variance.hasNaN())
    throw std::invalid_argument("acquisition::evaluate: mean or variance holds NaN");
  const Eigen::Index n = mean.size();
  Eigen::VectorXd out(n);
  const double spread = n > 0 ? mean.maxCoeff() - mean.minCoeff() : 0.0;
  const double xi = spec.xi * spread;
  switch (spec.kind) {
    case Kind::ei:
      for (Eigen::Index i = 0; i < n; ++i)
        out[i] = expected_improvement(mean[i], std::sqrt(std::max(variance[i], 0.0)), best, xi);
      break;
    case Kind::pi:
      for (Eigen::Index i = 0; i < n; ++i)
        out[i] = probability_of_improvement(mean[i], std::sqrt(std::max(variance[i], 0.0)), best, xi);
      break;
    case Kind::ucb:
      for (Eigen::Index i = 0; i < n; ++i)
        out[i] = upper_confidence_bound(mean[i], std::sqrt(std::max(variance[i], 0.0)), spec.beta);
      break;
    case Kind::maxvar:
      out = variance.cwiseMax(0.0);
      break;
    case Kind::thompson: {
      random::Normal normal(0.0, 1.0);
      for (Eigen::Index i = 0; i < n; ++i)
        out[i] = mean[i] + std::sqrt(std::max(variance[i], 0.0)) * normal(rng);
      break;
    }
  }
  return out;
}

Eigen::VectorXd min_distance(const Eigen::MatrixX2d& candidates, const Eigen::MatrixX2d& measured) {
  Eigen::VectorXd d = Eigen::VectorXd::Constant(candidates.rows(),
                                                std::numeric_limits<double>::infinity());
  for (Eigen::Index i = 0; i < candidates.rows(); ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (Eigen::Index j = 0; j < measured.rows(); ++j) {
      const double dr = candidates(i, 0) - measured(j, 0), dc = candidates(i, 1) - measured(j, 1);
      best = std::min(best, dr * dr + dc * dc);
    }
    d[i] = std::sqrt(best);
  }
  return d;
}

std::vector<std::size_t> select_batch(const Spec& spec, const Eigen::VectorXd& mean,
                                      Eigen::VectorXd variance, double best,
                                      const Eigen::MatrixX2d& candidates,
                                      const Eigen::MatrixX2d& measured,
                                      std::vector<char> available, const BatchOptions& options,
                                      std::mt19937_64& rng, const Conditioner& conditioner) {
  const auto n = static_cast<std::size_t>(mean.size());
  if (static_cast<std::size_t>(variance.size()) != n ||
      static_cast<std::size_t>(candidates.rows()) != n || available.size() != n)
    throw std::invalid_argument("acquisition::select_batch: mean (" + std::to_string(n) +
                                "), variance (" + std::to_string(variance.size()) +
                                "), candidates (" + std::to_string(candidates.rows()) +
                                ") and available (" + std::to_string(available.size()) +
                                ") must have the same length");
  if (!(options.min_distance_px >= 0.0))
    throw std::invalid_argument("acquisition::select_batch: min_distance_px must be ≥ 0");
  if (options.min_distance_px > 0.0 && measured.rows() > 0) {
    const Eigen::VectorXd d = min_distance(candidates, measured);
    for (std::size_t i = 0; i < n; ++i)
      if (d[static_cast<Eigen::Index>(i)] < options.min_distance_px) available[i] = 0;
  }
  const double exclusion = std::max(options.min_distance_px, 1.0);
  std::vector<std::size_t> chosen;
  for (std::size_t k = 0; k < options.q; ++k) {
    const Eigen::VectorXd a = evaluate(spec, mean, variance, best, rng);
    std::size_t arg = n;
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n; ++i)
      if (available[i] && (arg == n || a[static_cast<Eigen::Index>(i)] > top)) {
        top = a[static_cast<Eigen::Index>(i)];
        arg = i;
      }
    if (arg == n) break;
    chosen.push_back(arg);
    available[arg] = 0;
    if (k + 1 == options.q) break;
    if (conditioner) {
      conditioner(arg, variance);
      if (options.min_distance_px > 0.0)
        for (std::size_t i = 0; i < n; ++i) {
          const double dr = candidates(static_cast<Eigen::Index>(i), 0) - candidates(static_cast<Eigen::Index>(arg), 0);
          const double dc = candidates(static_cast<Eigen::Index>(i), 1) - candidates(static_cast<Eigen::Index>(arg), 1);
          if (dr * dr + dc * dc < options.min_distance_px * options.min_distance_px) available[i] = 0;
        }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        const double dr = candidates(static_cast<Eigen::Index>(i), 0) - candidates(static_cast<Eigen::Index>(arg), 0);
        const double dc = candidates(static_cast<Eigen::Index>(i), 1) - candidates(static_cast<Eigen::Index>(arg), 1);
        if (dr * dr + dc * dc <= exclusion * exclusion) available[i] = 0;
      }
    }
  }
  return chosen;
}

}  // namespace autostem::acquisition
