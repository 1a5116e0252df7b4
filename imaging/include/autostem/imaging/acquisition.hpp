#pragma once
// Acquisition functions (DESIGN.md §4, issue 6): turn a model's predictive mean and variance over
// candidate positions into a score, and pick the next point or a batch of q points. Usable by any
// model that gives mean and variance (the GP and DKL strategies, a future ensemble); Eigen only.
//
// Convention: the target property is MAXIMISED; higher acquisition = more worth measuring.
// Spec syntax (parse_acquisition):
//   ei[:XI]        expected improvement over the best observed value, exploration margin XI
//                  (default 0.01, in units of the property's standard deviation — see below)
//   ucb[:BETA]     upper confidence bound  mean + √BETA · σ  (default BETA = 4, i.e. mean + 2σ)
//   pi[:XI]        probability of improvement (default XI = 0.01)
//   maxvar         maximum variance (pure exploration)
//   thompson       Thompson sampling from the MARGINAL posterior: one independent draw
//                  N(mean_i, var_i) per candidate (seeded). Candidates are not jointly sampled —
//                  the functions here see no covariance — so this is "marginal Thompson sampling".
// XI is scaled by the spread of the mean (max − min of `mean`) so one setting suits any units.

#include <Eigen/Core>

#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace autostem::acquisition {

enum class Kind { ei, ucb, pi, maxvar, thompson };

/// A parsed acquisition function.
struct Spec {
  Kind kind = Kind::ei;
  double beta = 4.0;  ///< ucb: mean + √beta·σ (Srinivas et al. 2010, GP-UCB)
  double xi = 0.01;   ///< ei/pi: margin as a fraction of the mean's spread
  /// Canonical text, e.g. "ucb:4", parsable again by parse_acquisition().
  std::string spec() const;
};

/// Parses "ei", "ei:XI", "ucb:BETA", "ucb", "pi", "pi:XI", "maxvar", "thompson".
/// Throws std::invalid_argument naming the spec: unknown name (lists the valid ones), extra
/// fields, non-numeric, non-finite or negative BETA/XI.
Spec parse_acquisition(const std::string& text);

/// Expected improvement of a Gaussian N(mu, sigma²) over `best` + xi (Jones, Schonlau & Welch
/// 1998, eq. 15): (mu − best − xi)·Φ(z) + sigma·φ(z), z = (mu − best − xi)/sigma; for
/// sigma ≤ 0 it is max(mu − best − xi, 0). Same units as mu.
double expected_improvement(double mu, double sigma, double best, double xi = 0.0);

/// Probability of improvement (Kushner 1964): Φ((mu − best − xi)/sigma); for sigma ≤ 0 it is
/// 1 if mu > best + xi else 0. Dimensionless, in [0, 1].
double probability_of_improvement(double mu, double sigma, double best, double xi = 0.0);

/// Upper confidence bound mu + √beta·sigma (Srinivas et al. 2010). Same units as mu.
double upper_confidence_bound(double mu, double sigma, double beta);

/// Acquisition values for all candidates: mean and variance (N,) (variance in units², clamped at
/// 0), best = the best observed value (for ei/pi; ignored otherwise). rng is used by thompson
/// only (one normal draw per candidate, in candidate order). Result (N,).
/// Throws std::invalid_argument if mean and variance differ in size or hold NaN.
Eigen::VectorXd evaluate(const Spec& spec, const Eigen::VectorXd& mean,
                         const Eigen::VectorXd& variance, double best, std::mt19937_64& rng);

/// Euclidean distance (px) from every candidate (N, 2: row, col) to the nearest of the measured
/// positions (M, 2); +inf for every candidate when M = 0. Brute force O(N·M).
Eigen::VectorXd min_distance(const Eigen::MatrixX2d& candidates, const Eigen::MatrixX2d& measured);

/// Updates a model's variance (N,) after "measuring" candidate `chosen` with the value the model
/// predicts there (kriging believer: the mean does not change, the variance shrinks). The GP
/// implements it with a rank-one update of the posterior covariance.
using Conditioner = std::function<void(std::size_t chosen, Eigen::VectorXd& variance)>;

/// Options of select_batch().
struct BatchOptions {
  std::size_t q = 1;                ///< points to choose
  double min_distance_px = 0.0;     ///< exclude candidates closer than this to measured/chosen
};

/// Chooses up to q distinct candidates greedily, each the maximiser of the acquisition among
/// the still-available ones (available[i] != 0). Between picks:
///  - with a Conditioner: "kriging believer" (Ginsbourger, Le Riche & Carraro 2010): the chosen
///    point is taken as measured at its predicted mean, the variance is updated by the
///    conditioner and the acquisition re-evaluated (thompson: a fresh draw);
///  - without one: candidates within options.min_distance_px (at least 1 px) of the chosen
///    point are excluded (a hard local penalisation).
/// candidates (N, 2) are the positions (row, col, px), `measured` (M, 2) positions already
/// measured or in flight: with min_distance_px > 0, candidates closer than it are excluded from
/// the start. Ties are broken by the lowest index. Returns indices into the candidates, fewer
/// than q when fewer are available. Throws std::invalid_argument on size mismatches.
std::vector<std::size_t> select_batch(const Spec& spec, const Eigen::VectorXd& mean,
                                      Eigen::VectorXd variance, double best,
                                      const Eigen::MatrixX2d& candidates,
                                      const Eigen::MatrixX2d& measured,
                                      std::vector<char> available, const BatchOptions& options,
                                      std::mt19937_64& rng, const Conditioner& conditioner = {});

}  // namespace autostem::acquisition
