// DKL: survey patches, the learned structure→property map on a synthetic survey (R² on held-out
// patches against a GP on coordinates), determinism, and the dkl/gp strategies' behaviour and
// bad inputs (patch larger than the survey, NaN scalarizer, constant survey, overlap, batches).
#include <autostem/core/first_hit.hpp>
#include <autostem/imaging/scalarizer.hpp>
#include <autostem/strategies/dkl.hpp>
#include <autostem/strategies/registry.hpp>
#include <autostem/strategies/torch.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <set>

namespace {

using namespace autostem;
using strategies::DklModel;
using strategies::DklOptions;
using strategies::PatchMatrix;
namespace gp = strategies::gp;

/// A survey of Gaussian "particles" (σ 1–2.5 px, amplitude 0.3–1.5) on a 0.1 background.
ImageArray particle_survey(std::size_t rows, std::size_t cols, int particles, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ur(0, double(rows)), uc(0, double(cols)), us(1.0, 2.5),
      ua(0.3, 1.5);
  ImageArray img = ImageArray::Constant(Eigen::Index(rows), Eigen::Index(cols), 0.1);
  for (int p = 0; p < particles; ++p) {
    const double r0 = ur(rng), c0 = uc(rng), s = us(rng), a = ua(rng);
    for (Eigen::Index r = 0; r < img.rows(); ++r)
      for (Eigen::Index c = 0; c < img.cols(); ++c)
        img(r, c) += a * std::exp(-((r - r0) * (r - r0) + (c - c0) * (c - c0)) / (2 * s * s));
  }
  return img;
}

/// The known property: a nonlinear function of the local structure, (mean over the 5×5
/// window)², edges clamped.
ImageArray local_property(const ImageArray& img) {
  ImageArray out(img.rows(), img.cols());
  for (Eigen::Index r = 0; r < img.rows(); ++r)
    for (Eigen::Index c = 0; c < img.cols(); ++c) {
      double s = 0;
      for (int a = -2; a <= 2; ++a)
        for (int b = -2; b <= 2; ++b)
          s += img(std::clamp<Eigen::Index>(r + a, 0, img.rows() - 1),
                   std::clamp<Eigen::Index>(c + b, 0, img.cols() - 1));
      out(r, c) = (s / 25.0) * (s / 25.0);
    }
  return out;
}

double r_squared(const Eigen::VectorXd& pred, const Eigen::VectorXd& truth) {
  const double ss_res = (pred - truth).squaredNorm();
  const double ss_tot = (truth.array() - truth.mean()).square().sum();
  return 1.0 - ss_res / ss_tot;
}

TEST(Patches, WindowsReflectAndStandardise) {
  ImageArray img(4, 5);
  for (Eigen::Index r = 0; r < 4; ++r)
    for (Eigen::Index c = 0; c < 5; ++c) img(r, c) = double(10 * r + c);
  const auto p = strategies::extract_patches(img, 3, 1);
  ASSERT_EQ(p.data.rows(), 20);
  ASSERT_EQ(p.data.cols(), 9);
  const double mean = img.mean(), sd = std::sqrt((img - mean).square().mean());
  auto z = [&](double v) { return float((v - mean) / sd); };
  // Pixel (0, 0): rows −1, 0, 1 → 1, 0, 1; cols −1, 0, 1 → 1, 0, 1 (numpy "reflect").
  EXPECT_FLOAT_EQ(p.data(0, 0), z(11));
  EXPECT_FLOAT_EQ(p.data(0, 4), z(0));
  EXPECT_FLOAT_EQ(p.data(0, 8), z(11));
  // Pixel (2, 3), an interior one: the window centre is the pixel.
  EXPECT_FLOAT_EQ(p.data(2 * 5 + 3, 4), z(23));
  EXPECT_FLOAT_EQ(p.data(2 * 5 + 3, 0), z(12));
  EXPECT_FALSE(p.constant);
  // Stride 2: candidates at rows 0, 2 and cols 0, 2, 4; pixel (3, 3) falls in (2, 2)'s cell.
  const auto q = strategies::extract_patches(img, 2, 2);
  EXPECT_EQ(q.data.rows(), 6);
  EXPECT_EQ(q.candidate_of(3, 3), 1u * 3 + 1);
  EXPECT_EQ(q.positions(4, 0), 2.0);
  EXPECT_EQ(q.positions(4, 1), 2.0);
}

TEST(Patches, BadInput) {
  const ImageArray img = ImageArray::Constant(8, 6, 3.0);
  try {
    strategies::extract_patches(img, 7, 1);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("7×7 patch is larger than the 8×6 survey"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(strategies::extract_patches(img, 0, 1), std::invalid_argument);
  EXPECT_THROW(strategies::extract_patches(img, 3, 0), std::invalid_argument);
  const auto p = strategies::extract_patches(img, 3, 1);
  EXPECT_TRUE(p.constant);
  EXPECT_EQ(p.data.cwiseAbs().maxCoeff(), 0.0f);
  ImageArray nan = img;
  nan(2, 2) = std::nan("");
  EXPECT_THROW(strategies::extract_patches(nan, 3, 1), std::invalid_argument);
}

/// Gaussian blobs of width sigma (px) on a square grid of the given spacing, n × n.
ImageArray blob_grid(std::size_t n, double spacing, double sigma) {
  ImageArray img = ImageArray::Zero(Eigen::Index(n), Eigen::Index(n));
  for (double cy = spacing / 2; cy < double(n); cy += spacing)
    for (double cx = spacing / 2; cx < double(n); cx += spacing)
      for (Eigen::Index r = 0; r < img.rows(); ++r)
        for (Eigen::Index c = 0; c < img.cols(); ++c)
          img(r, c) += std::exp(-((double(r) - cy) * (double(r) - cy) + (double(c) - cx) * (double(c) - cx)) /
                                (2 * sigma * sigma));
  return img;
}

TEST(Patches, AutocorrelationHalfWidthOfGaussianBlobs) {
  // Blobs of width σ on a grid of spacing L = 8σ (nearly isolated): the autocorrelation of the
  // mean-free image is (exp(−r²/4σ²) − q)/(1 − q), q = 4πσ²/L² (the mean's share), so it is ½ at
  // r = 2σ·√(−ln((1 + q)/2)). The integer rings and the linear interpolation cost < 3 %.
  for (double sigma : {2.0, 3.0, 4.0}) {
    const double L = 8 * sigma, q = 4 * std::acos(-1.0) * sigma * sigma / (L * L);
    const double expected = 2 * sigma * std::sqrt(-std::log((1 + q) / 2));
    const double got = strategies::autocorrelation_half_width(blob_grid(128, L, sigma), 12.0);
    EXPECT_NEAR(got, expected, 0.03 * expected) << "sigma " << sigma;
  }
  // Scale-free: the same survey on a twice finer grid (each pixel → 2 × 2) has twice the length.
  const ImageArray coarse = particle_survey(48, 48, 40, 5);
  ImageArray fine(96, 96);
  for (Eigen::Index r = 0; r < fine.rows(); ++r)
    for (Eigen::Index c = 0; c < fine.cols(); ++c) fine(r, c) = coarse(r / 2, c / 2);
  const double h1 = strategies::autocorrelation_half_width(coarse), h2 = strategies::autocorrelation_half_width(fine);
  EXPECT_NEAR(h2 / h1, 2.0, 0.15) << h1 << " " << h2;
  // Intensity scale and offset do not matter (the survey is standardised).
  EXPECT_DOUBLE_EQ(strategies::autocorrelation_half_width(coarse * 7.0 + 3.0), h1);
  // Still above ½ at the cap: the cap is returned (a lower bound).
  EXPECT_EQ(strategies::autocorrelation_half_width(blob_grid(64, 64, 12.0), 3.0), 3.0);
  // A constant survey has no length; bad input throws.
  EXPECT_EQ(strategies::autocorrelation_half_width(ImageArray::Constant(8, 8, 2.0)), 0.0);
  ImageArray nan = coarse;
  nan(3, 3) = std::nan("");
  EXPECT_THROW(strategies::autocorrelation_half_width(nan), std::invalid_argument);
  EXPECT_THROW(strategies::autocorrelation_half_width(ImageArray(0, 0)), std::invalid_argument);
  EXPECT_THROW(strategies::autocorrelation_half_width(coarse, 0.5), std::invalid_argument);
}

TEST(Patches, AutoPatchOfKnownSurveys) {
  // 3.5 half-widths rounded to 4, 8, 12, 16 (docs/dkl.md "patch=auto"). Atom columns (σ 0.5 px,
  // 4 px apart, like the 0.4 Å TBG survey): 4. Particles of σ 1.5 px (ℓ ≈ 2.2 px, like the
  // 64×64 nanoparticles phantom): 8. σ 2.5 px (ℓ ≈ 3.6): 12. σ 4 px (ℓ ≈ 5.7): 16, the cap.
  const std::vector<std::pair<ImageArray, std::size_t>> cases = {
      {blob_grid(64, 4, 0.5), 4}, {blob_grid(96, 16, 1.5), 8}, {blob_grid(96, 20, 2.5), 12}, {blob_grid(128, 32, 4.0), 16}};
  for (const auto& [img, patch] : cases) {
    const auto a = strategies::auto_patch_size(img);
    EXPECT_EQ(a.patch, patch) << "half-width " << a.half_width_px;
    EXPECT_NEAR(double(a.patch), 4 * std::clamp(std::round(3.5 * a.half_width_px / 4), 1.0, 4.0), 0.0);
  }
  // Never larger than the survey; a constant survey gets 8 (it falls back to coordinates).
  for (std::size_t n : {3, 5, 6, 10}) {
    const ImageArray small = blob_grid(n, double(n), 4.0);
    const auto a = strategies::auto_patch_size(small);
    EXPECT_LE(a.patch, n);
    EXPECT_NO_THROW(strategies::extract_patches(small, a.patch, 1));
  }
  EXPECT_EQ(strategies::auto_patch_size(ImageArray::Constant(16, 16, 1.0)).patch, 8u);
  EXPECT_EQ(strategies::auto_patch_size(ImageArray::Constant(5, 7, 1.0)).patch, 5u);
}

struct Split {
  std::vector<std::size_t> train, test;
};

Split split(std::size_t pixels, std::size_t n_train, std::size_t n_test, std::uint64_t seed) {
  std::vector<std::size_t> idx(pixels);
  std::iota(idx.begin(), idx.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(idx.begin(), idx.end(), rng);
  return {{idx.begin(), idx.begin() + long(n_train)},
          {idx.begin() + long(n_train), idx.begin() + long(n_train + n_test)}};
}

TEST(Dkl, LearnsAKnownNonlinearMapBetterThanAGpOnCoordinates) {
  const std::size_t R = 96, C = 96;
  const ImageArray survey = particle_survey(R, C, 140, 3);
  const ImageArray prop = local_property(survey);
  const auto patches = strategies::extract_patches(survey, 8, 1);
  const Split s = split(R * C, 200, 2000, 11);
  auto rows_of = [&](const std::vector<std::size_t>& ids) {
    PatchMatrix X(Eigen::Index(ids.size()), patches.data.cols());
    for (std::size_t i = 0; i < ids.size(); ++i) X.row(Eigen::Index(i)) = patches.data.row(Eigen::Index(ids[i]));
    return X;
  };
  auto values_of = [&](const std::vector<std::size_t>& ids) {
    Eigen::VectorXd y(Eigen::Index(ids.size()));
    for (std::size_t i = 0; i < ids.size(); ++i) y[Eigen::Index(i)] = prop.data()[ids[i]];
    return y;
  };
  const Eigen::VectorXd ytr = values_of(s.train), yte = values_of(s.test);
  const double mu = ytr.mean(), sd = std::sqrt((ytr.array() - mu).square().mean());
  const Eigen::VectorXd ytr_std = (ytr.array() - mu) / sd;

  // Default network (64-64 → 2-D embedding, RBF); Adam at 0.003 for 500 iterations (at 0.01 the
  // held-out R² of this problem swings between 0.58 and 0.99 with the iteration count).
  DklOptions o;
  o.seed = 5;
  o.learning_rate = 0.003;
  DklModel model(patches.data.cols(), o);
  model.train(rows_of(s.train), ytr_std, 500);
  Eigen::VectorXd mean, var;
  model.gp().predict(model.embed(rows_of(s.test)), mean, var);
  const double r2_dkl = r_squared((mean.array() * sd + mu).matrix(), yte);

  // The GP on (row, col)/96 with the best lengthscale of a grid by marginal likelihood.
  auto coords = [&](const std::vector<std::size_t>& ids) {
    Eigen::MatrixXd X(Eigen::Index(ids.size()), 2);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      X(Eigen::Index(i), 0) = double(ids[i] / C) / double(C);
      X(Eigen::Index(i), 1) = double(ids[i] % C) / double(C);
    }
    return X;
  };
  double best_lml = -1e300, r2_gp = 0;
  for (double ell : {0.01, 0.02, 0.04, 0.08, 0.16, 0.32})
    for (double noise : {0.01, 0.1, 0.5}) {
      gp::Hyper h;
      h.lengthscale = Eigen::VectorXd::Constant(2, ell);
      h.noise = noise;
      gp::ExactGP g;
      g.fit(gp::KernelKind::rbf, h, coords(s.train), ytr_std);
      if (g.log_marginal_likelihood() <= best_lml) continue;
      best_lml = g.log_marginal_likelihood();
      g.predict(coords(s.test), mean, var);
      r2_gp = r_squared((mean.array() * sd + mu).matrix(), yte);
    }
  std::cout << "held-out R²: dkl " << r2_dkl << ", gp on coordinates " << r2_gp << "\n";
  EXPECT_GE(r2_dkl, 0.9);
  EXPECT_LT(r2_gp, r2_dkl - 0.2);
}

TEST(Dkl, DeterministicForASeed) {
  const ImageArray survey = particle_survey(32, 32, 20, 1);
  const auto patches = strategies::extract_patches(survey, 8, 1);
  const PatchMatrix X = patches.data.topRows(40);
  Eigen::VectorXd y = X.rowwise().mean().cast<double>();
  y = (y.array() - y.mean()) / std::sqrt((y.array() - y.mean()).square().mean());
  DklOptions o;
  o.seed = 9;
  DklModel a(64, o), b(64, o);
  o.seed = 10;
  DklModel c(64, o);
  a.train(X, y, 20);
  b.train(X, y, 20);
  c.train(X, y, 20);
  EXPECT_EQ(a.embed(patches.data), b.embed(patches.data));
  EXPECT_NE(a.embed(patches.data), c.embed(patches.data));
  // Warm start: a second call continues from the trained weights (likelihood does not drop).
  const double l1 = a.train(X, y, 0);
  const double l2 = a.train(X, y, 30);
  EXPECT_GE(l2, l1 - 1e-3);
}

// --- The strategies, driven by hand (propose → measurements → observe) ---------------------------

struct Field {
  ImageArray survey, property;
  InstrumentInfo info;
};

Field make_field(std::size_t n, std::uint64_t seed) {
  Field f;
  f.survey = particle_survey(n, n, int(n * n / 60), seed);
  f.property = local_property(f.survey);
  f.info.field_rows = f.info.field_cols = n;
  f.info.energy = EnergyAxis{0.0, 1.0, 1};
  return f;
}

Survey survey_of(const ImageArray& img) {
  Survey s;
  s.image.data = img;
  return s;
}

/// Runs `steps` decisions of batch q; returns the positions in order. value(p) gives the signal;
/// each measurement takes dt_s of acquisition time (t_end_s − t_start_s; 0: a clock that stands).
template <class F>
std::vector<Position> drive(Strategy& st, const Field& f, std::size_t points, std::size_t q,
                            F&& signal, std::uint64_t seed = 0, double dt_s = 0.0) {
  StrategyContext ctx;
  ctx.instrument = f.info;
  ctx.seed = seed;
  st.begin(survey_of(f.survey), ctx);
  std::vector<Position> out;
  while (out.size() < points) {
    const auto ps = st.propose(q);
    if (ps.empty()) break;
    std::vector<Measurement> ms;
    for (const auto& p : ps) {
      Measurement m;
      m.index = out.size();
      m.requested = p;
      m.signal = signal(p);
      m.t_start_s = dt_s * double(out.size());
      m.t_end_s = m.t_start_s + dt_s;
      ms.push_back(m);
      out.push_back(p);
    }
    st.observe(ms);
  }
  return out;
}

Parameters fast(Parameters p) {
  p.emplace("train_iters", "15");
  p.emplace("init_iters", "60");
  p.emplace("patch", "8");
  return p;
}

/// Measurements until the first top-1 % pixel of f.property (1-based; path.size() + 1 = never)
/// and the number K of top-1 % pixels (ties included).
std::pair<std::size_t, std::size_t> first_top1(const Field& f, const std::vector<Position>& path) {
  std::vector<double> v(f.property.data(), f.property.data() + f.property.size());
  const std::size_t k = std::max<std::size_t>(1, std::size_t(std::ceil(0.01 * double(v.size()))));
  std::nth_element(v.begin(), v.end() - long(k), v.end());
  const double top = *(v.end() - long(k));
  const auto K = std::size_t((f.property.array() >= top).count());
  for (std::size_t i = 0; i < path.size(); ++i)
    if (f.property(Eigen::Index(path[i].row), Eigen::Index(path[i].col)) >= top) return {i + 1, K};
  return {path.size() + 1, K};
}

/// Exact one-sided p-value of "at least `hits` of the runs reached the top 1 % within t" if the
/// strategy were uniform random sampling without replacement: runs are independent with
/// per-field success probabilities p_i = P(T_i ≤ t) (core/first_hit.hpp), so the count is
/// Poisson-binomial; its upper tail by dynamic programming.
double null_p_value(const std::vector<FirstHitField>& fields, std::size_t t, std::size_t hits) {
  std::vector<double> dist{1.0};
  for (const auto& f : fields) {
    const double p = first_hit_cdf({&f, 1}, t);
    std::vector<double> next(dist.size() + 1, 0.0);
    for (std::size_t j = 0; j < dist.size(); ++j) {
      next[j] += dist[j] * (1.0 - p);
      next[j + 1] += dist[j] * p;
    }
    dist = std::move(next);
  }
  double tail = 0.0;
  for (std::size_t j = hits; j < dist.size(); ++j) tail += dist[j];
  return tail;
}

/// Drives `params` on 8 fields (seeds 21–28, strategy seeds 0–7) for 60 points each; returns the
/// first-hit counts and the fields for the exact baseline.
std::pair<std::vector<std::size_t>, std::vector<FirstHitField>> first_hits(const Parameters& params) {
  std::vector<std::size_t> hits;
  std::vector<FirstHitField> fields;
  for (std::uint64_t s = 0; s < 8; ++s) {
    const Field f = make_field(48, 21 + s);
    auto value = [&](const Position& p) {
      return std::vector<float>{float(f.property(Eigen::Index(p.row), Eigen::Index(p.col)))};
    };
    auto st = strategies::make_strategy("dkl", params);
    const auto path = drive(*st, f, 60, 1, value, s);
    EXPECT_EQ(path.size(), 60u);
    std::set<std::pair<double, double>> distinct;
    for (const auto& p : path) distinct.insert({p.row, p.col});
    EXPECT_EQ(distinct.size(), path.size());
    const auto [first, K] = first_top1(f, path);
    hits.push_back(first);
    fields.push_back({std::size_t(f.property.size()), K});
    const auto pred = st->prediction();
    EXPECT_TRUE(pred.has_value() && pred->mean.rows() == 48 && pred->uncertainty.allFinite() &&
                pred->uncertainty.minCoeff() >= 0.0);
  }
  return {hits, fields};
}

TEST(DklStrategy, RegisteredAndFindsTheMaximumSoonerThanChance) {
  // Several seeds against the EXACT baseline of uniform random sampling without replacement (no
  // single-seed threshold; issue 22: the old one-seed "first < 40" passed for a random strategy
  // one time in three). Statistic: how many of the 8 runs reach the top 1 % within t = 30
  // spectra; chance does so with p_i ≈ 0.26 per run, so ≥ 6 of 8 has probability ≈ 0.005.
  strategies::register_torch_strategies();
  const auto [hits, fields] = first_hits(fast({}));
  const std::size_t t = 30;
  const auto within = std::size_t(std::count_if(hits.begin(), hits.end(), [&](std::size_t h) { return h <= t; }));
  const double p = null_p_value(fields, t, within);
  std::cout << "dkl first top-1 % pixel after:";
  for (std::size_t h : hits) std::cout << " " << (h > 60 ? std::string("never") : std::to_string(h));
  std::cout << " — " << within << "/8 within " << t << "; exact random median "
            << first_hit_quantile(fields, 0.5) << ", P(≥ " << within << "/8 | random) = " << p << "\n";
  EXPECT_LE(p, 0.01);
}

TEST(DklStrategy, FastUpdateFindsTheMaximumSoonerThanChanceAndCalibrates) {
  // update=fast (incremental posterior, background retrains every 10 values here): the same
  // multi-seed test, and the 95 % predictive intervals of the values it was about to learn.
  strategies::register_torch_strategies();
  const auto [hits, fields] = first_hits(fast({{"update", "fast"}, {"retrain_every", "10"}}));
  const std::size_t t = 30;
  const auto within = std::size_t(std::count_if(hits.begin(), hits.end(), [&](std::size_t h) { return h <= t; }));
  const double p = null_p_value(fields, t, within);
  std::cout << "dkl update=fast first top-1 % pixel after:";
  for (std::size_t h : hits) std::cout << " " << (h > 60 ? std::string("never") : std::to_string(h));
  std::cout << " — " << within << "/8 within " << t << ", P(≥ " << within << "/8 | random) = " << p << "\n";
  EXPECT_LE(p, 0.01);
  // Determinism and the counters on one field.
  const Field f = make_field(48, 21);
  auto value = [&](const Position& q) {
    return std::vector<float>{float(f.property(Eigen::Index(q.row), Eigen::Index(q.col)))};
  };
  auto a = strategies::make_dkl_strategy(fast({{"update", "fast"}, {"retrain_every", "10"}}));
  auto b = strategies::make_dkl_strategy(fast({{"update", "fast"}, {"retrain_every", "10"}}));
  EXPECT_EQ(drive(*a, f, 60, 1, value, 3), drive(*b, f, 60, 1, value, 3));
  const auto st = strategies::dkl_fast_stats(*a);
  std::cout << "retrains started " << st.retrains_started << ", applied " << st.retrains_applied << ", surprises "
            << st.surprises << ", 95 % interval coverage " << st.covered95 << "/" << st.scored << "\n";
  EXPECT_GE(st.retrains_applied, 4u);  // the first fit + one every 10 values (clock does not move here)
  EXPECT_EQ(st.scored, 49u);  // values 11–59, each scored before it was added (the 60th arrives after the last decision)
  EXPECT_GT(st.posterior_bytes, 0u);
  EXPECT_THROW(strategies::make_dkl_strategy({{"update", "fast"}, {"targets", "rank"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_dkl_strategy({{"update", "quick"}}), std::invalid_argument);
}

TEST(DklStrategy, FastSurpriseRetrainsAreSpacedAndDeterministic) {
  // update=fast with every value "surprising" (|z| > 0.01) and no scheduled retrain
  // (retrain_every 1000): retrains start only on surprises, each at least
  // max(surprise_gap, ⌈0.1·n⌉) values after the previous one. Each measurement advances the
  // acquisition clock by 1 s and retrain_s = 0.5, so a retrain is swapped in at the next
  // decision (no job blocks the next start): the spacing alone limits them.
  const Field f = make_field(32, 6);
  auto value = [&](const Position& q) {
    return std::vector<float>{float(f.property(Eigen::Index(q.row), Eigen::Index(q.col)))};
  };
  auto params = [](const std::string& gap, const std::string& surprise) {
    return fast({{"update", "fast"}, {"retrain_every", "1000"}, {"surprise", surprise},
                 {"surprise_gap", gap}, {"retrain_s", "0.5"}});
  };
  std::map<std::size_t, std::size_t> started;
  for (std::size_t gap : {3u, 8u}) {
    auto a = strategies::make_dkl_strategy(params(std::to_string(gap), "0.01"));
    auto b = strategies::make_dkl_strategy(params(std::to_string(gap), "0.01"));
    EXPECT_EQ(drive(*a, f, 60, 1, value, 2, 1.0), drive(*b, f, 60, 1, value, 2, 1.0)) << gap;
    const auto sa = strategies::dkl_fast_stats(*a), sb = strategies::dkl_fast_stats(*b);
    EXPECT_EQ(sa.retrain_starts, sb.retrain_starts);
    EXPECT_EQ(sa.covered95, sb.covered95);
    // Each retrain is swapped in at the decision after it started (the clock passed retrain_s):
    // every start of the run, the last included, was applied.
    EXPECT_EQ(sa.retrains_applied, sa.retrain_starts.size());
    std::cout << "surprise_gap " << gap << ": " << sa.surprises << " surprises of " << sa.scored
              << " values; retrains started at n =";
    for (std::size_t n : sa.retrain_starts) std::cout << " " << n;
    std::cout << "\n";
    EXPECT_GT(sa.surprises, sa.scored / 2);  // |z| > 0.01: nearly every value
    ASSERT_GE(sa.retrain_starts.size(), 3u);
    EXPECT_EQ(sa.retrain_starts.front(), 10u);  // the first fit after the 10 Halton points
    for (std::size_t i = 1; i < sa.retrain_starts.size(); ++i) {
      const std::size_t n = sa.retrain_starts[i], prev = sa.retrain_starts[i - 1];
      EXPECT_GE(n - prev, std::max<std::size_t>(gap, (n + 9) / 10)) << "retrain at " << n << " after " << prev;
    }
    started[gap] = sa.retrain_starts.size();
  }
  EXPECT_GT(started[3], started[8]);
  // No surprises (surprise = 0) and no schedule within 60 values: the first fit only.
  auto c = strategies::make_dkl_strategy(params("3", "0"));
  drive(*c, f, 60, 1, value, 2, 1.0);
  EXPECT_EQ(strategies::dkl_fast_stats(*c).retrain_starts, std::vector<std::size_t>{10});
}

TEST(DklStrategy, FastRetrainScheduleGrowsWithN) {
  // Default schedule of update=fast: a retrain every max(50, ⌈0.1·n⌉) values; the clock stands
  // still here, so each retrain is swapped in after that many values and the next one starts.
  // 130 values: the first fit at 10, then 60 and 110. Surprise retrains off; exact_max 50, so
  // the retrain of n = 60 builds the sparse posterior.
  const Field f = make_field(32, 7);
  auto value = [&](const Position& q) {
    return std::vector<float>{float(f.property(Eigen::Index(q.row), Eigen::Index(q.col)))};
  };
  auto st = strategies::make_dkl_strategy(
      fast({{"update", "fast"}, {"surprise", "0"}, {"exact_max", "50"}, {"inducing", "30"}}));
  drive(*st, f, 130, 1, value, 1);
  const auto s = strategies::dkl_fast_stats(*st);
  EXPECT_EQ(s.retrain_starts, (std::vector<std::size_t>{10, 60, 110}));
  EXPECT_EQ(s.retrains_applied, 2u);  // the first fit and the one of n = 60 (swapped in at 110)
  EXPECT_TRUE(s.sparse);
  EXPECT_EQ(s.surprises, 0u);
  EXPECT_GT(s.last_modelled_s, 0.0);  // retrain_s = auto: the cost model's duration
}

TEST(DklStrategy, SameSeedSamePathAndBatchesHaveNoDuplicates) {
  const Field f = make_field(32, 4);
  auto value = [&](const Position& p) {
    return std::vector<float>{float(f.property(Eigen::Index(p.row), Eigen::Index(p.col)))};
  };
  for (const char* acq : {"ei", "ucb:4", "pi", "maxvar", "thompson"}) {
    auto a = strategies::make_dkl_strategy(fast({{"acquisition", acq}}));
    auto b = strategies::make_dkl_strategy(fast({{"acquisition", acq}}));
    const auto pa = drive(*a, f, 24, 4, value, 7);
    EXPECT_EQ(pa, drive(*b, f, 24, 4, value, 7)) << acq;
    std::set<std::pair<double, double>> distinct;
    for (const auto& p : pa) distinct.insert({p.row, p.col});
    EXPECT_EQ(distinct.size(), pa.size()) << acq;
  }
}

TEST(DklStrategy, OverlapProposesWhileEarlierPointsAreInFlight) {
  const Field f = make_field(32, 5);
  auto st = strategies::make_dkl_strategy(fast({}));
  StrategyContext ctx;
  ctx.instrument = f.info;
  st->begin(survey_of(f.survey), ctx);
  std::vector<Position> in_flight, all;
  std::size_t next_index = 0;
  for (int step = 0; step < 30; ++step) {
    const auto ps = st->propose(1);  // proposed before the previous point is observed
    ASSERT_EQ(ps.size(), 1u);
    all.push_back(ps[0]);
    in_flight.push_back(ps[0]);
    if (in_flight.size() == 2) {
      Measurement m;
      m.index = next_index++;
      m.requested = in_flight.front();
      m.signal = {float(f.property(Eigen::Index(m.requested.row), Eigen::Index(m.requested.col)))};
      st->observe(std::span<const Measurement>(&m, 1));
      in_flight.erase(in_flight.begin());
    }
  }
  std::set<std::pair<double, double>> distinct;
  for (const auto& p : all) distinct.insert({p.row, p.col});
  EXPECT_EQ(distinct.size(), all.size());
}

TEST(DklStrategy, BadInputGivesErrorsOrDocumentedFallbacks) {
  // A patch larger than the survey: a clear error at begin().
  {
    Field f = make_field(12, 1);
    auto st = strategies::make_dkl_strategy({{"patch", "16"}});
    StrategyContext ctx;
    ctx.instrument = f.info;
    try {
      st->begin(survey_of(f.survey), ctx);
      ADD_FAILURE() << "no error";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("larger than the 12×12 survey"), std::string::npos);
    }
  }
  // Unknown parameter and malformed values.
  EXPECT_THROW(strategies::make_dkl_strategy({{"patchsize", "8"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_dkl_strategy({{"acquisition", "foo"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_dkl_strategy({{"hidden", "64-x"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_gp_strategy({{"patch", "8"}}), std::invalid_argument);
  // A scalarizer that yields NaN for some spectra: those values are skipped, the run goes on.
  {
    Field f = make_field(24, 2);
    f.info.energy = EnergyAxis{0.0, 1.0, 4};
    auto st = strategies::make_dkl_strategy(fast({{"scalarizer", "ratio:0:1:2:3"}}));
    std::size_t k = 0;
    auto spectrum = [&](const Position& p) {
      const float v = float(f.property(Eigen::Index(p.row), Eigen::Index(p.col)));
      // Every third spectrum has an empty denominator band: 0/0 = NaN.
      return (k++ % 3 == 0) ? std::vector<float>{v, v, 0, 0} : std::vector<float>{v, v, 1, 1};
    };
    const auto path = drive(*st, f, 40, 1, spectrum);
    EXPECT_EQ(path.size(), 40u);
    EXPECT_TRUE(st->prediction().has_value());
  }
  // A constant survey: documented fallback to the coordinates model (like "gp").
  {
    Field f = make_field(24, 3);
    f.survey.setConstant(2.0);
    auto st = strategies::make_dkl_strategy(fast({}));
    auto value = [&](const Position& p) {
      return std::vector<float>{float(f.property(Eigen::Index(p.row), Eigen::Index(p.col)))};
    };
    const auto path = drive(*st, f, 30, 2, value);
    EXPECT_EQ(path.size(), 30u);
    ASSERT_TRUE(st->prediction().has_value());
    EXPECT_TRUE(st->prediction()->mean.allFinite());
  }
}

// --- Regularisation (docs/dkl.md "Why these defaults") --------------------------------------------

TEST(Dkl, PrincipalComponentScoresAreUncorrelatedOrderedAndKeepALowRankSignal) {
  // Rank-3 data in 20 dimensions plus a little noise: 3 components carry almost everything.
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g(0.0, 1.0);
  Eigen::MatrixXd A(500, 3), B(3, 20);
  for (Eigen::Index i = 0; i < A.size(); ++i) A.data()[i] = g(rng) * (1.0 + double(i / 500));
  for (Eigen::Index i = 0; i < B.size(); ++i) B.data()[i] = g(rng);
  PatchMatrix X = (A * B).cast<float>();
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] += float(0.01 * g(rng));
  double explained = 0.0;
  const PatchMatrix S = strategies::principal_component_scores(X, 3, &explained);
  ASSERT_EQ(S.rows(), 500);
  ASSERT_EQ(S.cols(), 3);
  EXPECT_GT(explained, 0.9999);
  const Eigen::MatrixXd Sd = S.cast<double>();
  const Eigen::MatrixXd C = Sd.rowwise() - Sd.colwise().mean();
  const Eigen::MatrixXd cov = C.transpose() * C / 499.0;
  EXPECT_NEAR(cov.diagonal().mean(), 1.0, 1e-4);  // common scale: mean variance 1
  EXPECT_GT(cov(0, 0), cov(1, 1));                // leading component first
  EXPECT_GT(cov(1, 1), cov(2, 2));
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      if (a != b) {
        EXPECT_NEAR(cov(a, b), 0.0, 1e-4 * cov(0, 0));
      }
    }
  // On survey patches: 16 of 64 components keep most of the variance of smooth particles.
  const auto patches = strategies::extract_patches(particle_survey(40, 40, 25, 2), 8, 1);
  strategies::principal_component_scores(patches.data, 16, &explained);
  std::cout << "16 of 64 components explain " << explained << " of the patch variance\n";
  EXPECT_GT(explained, 0.9);
  EXPECT_THROW(strategies::principal_component_scores(X, 0), std::invalid_argument);
  EXPECT_THROW(strategies::principal_component_scores(X, 21), std::invalid_argument);
  EXPECT_THROW(strategies::principal_component_scores(X.topRows(1), 2), std::invalid_argument);
}

TEST(Dkl, WeightDecayShrinksTheEmbedding) {
  const ImageArray survey = particle_survey(32, 32, 20, 4);
  const auto patches = strategies::extract_patches(survey, 8, 1);
  const PatchMatrix X = patches.data.topRows(60);
  Eigen::VectorXd y = X.rowwise().mean().cast<double>();
  y = (y.array() - y.mean()) / std::sqrt((y.array() - y.mean()).square().mean());
  DklOptions o;
  o.seed = 5;
  DklModel plain(64, o);
  o.weight_decay = 0.1;
  DklModel decayed(64, o);
  plain.train(X, y, 300);
  decayed.train(X, y, 300);
  const double n_plain = plain.embed(patches.data).rowwise().norm().mean();
  const double n_decayed = decayed.embed(patches.data).rowwise().norm().mean();
  std::cout << "mean |z|: " << n_plain << " without, " << n_decayed << " with weight decay\n";
  EXPECT_LT(n_decayed, 0.8 * n_plain);
  o.weight_decay = -1.0;
  EXPECT_THROW(DklModel(64, o), std::invalid_argument);
  o.weight_decay = 0.0;
  o.min_noise = -1.0;
  EXPECT_THROW(DklModel(64, o), std::invalid_argument);
}

TEST(DklStrategy, RankTargetsPredictInScalarizerUnits) {
  // A heavy-tailed property (exp of the structure, values ~1…e^6): the strategy models normal
  // scores and maps the mean back to the scalarizer's units.
  const Field f = make_field(32, 8);
  const double pmax = f.property.maxCoeff();
  auto value = [&](const Position& p) {
    const double v = f.property(Eigen::Index(p.row), Eigen::Index(p.col));
    return std::vector<float>{float(std::exp(6.0 * v / pmax))};
  };
  auto st = strategies::make_dkl_strategy(fast({{"targets", "rank"}}));
  const auto path = drive(*st, f, 40, 1, value);
  ASSERT_EQ(path.size(), 40u);
  const auto pred = st->prediction();
  ASSERT_TRUE(pred.has_value());
  ASSERT_TRUE(pred->mean.allFinite());
  ASSERT_TRUE(pred->uncertainty.allFinite());
  EXPECT_GE(pred->uncertainty.minCoeff(), 0.0);
  // At the measured pixels (all but the last proposal) the mean follows the measured values in
  // their own units (normal scores would lie within ±3).
  std::vector<double> measured, predicted;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    measured.push_back(value(path[i])[0]);
    predicted.push_back(pred->mean(Eigen::Index(path[i].row), Eigen::Index(path[i].col)));
  }
  const auto [lo, hi] = std::minmax_element(measured.begin(), measured.end());
  std::vector<double> sorted = predicted;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const double med = sorted[sorted.size() / 2];
  EXPECT_GE(med, *lo);
  EXPECT_LE(med, *hi);
  const Eigen::Map<const Eigen::VectorXd> m(measured.data(), Eigen::Index(measured.size())),
      p(predicted.data(), Eigen::Index(predicted.size()));
  const Eigen::VectorXd mc = m.array() - m.mean(), pc = p.array() - p.mean();
  EXPECT_GT(mc.dot(pc) / (mc.norm() * pc.norm()), 0.5);
}

TEST(DklStrategy, AutoPatchFollowsTheSurvey) {
  // The default patch=auto is resolved at begin() from the survey (the run's AUTOSTEM_DKL_STATS
  // line records it): atom columns → 4 px, σ 1.5 px particles → 8 px; an explicit patch is kept.
  const std::string path = ::testing::TempDir() + "dkl_auto_patch_stats.jsonl";
  std::remove(path.c_str());
  ::setenv("AUTOSTEM_DKL_STATS", path.c_str(), 1);
  const std::vector<std::pair<ImageArray, Parameters>> runs = {
      {blob_grid(48, 4, 0.5), {}}, {blob_grid(48, 16, 1.5), {}}, {blob_grid(48, 4, 0.5), {{"patch", "12"}}}};
  for (const auto& [img, params] : runs) {
    auto st = strategies::make_dkl_strategy(params);
    StrategyContext ctx;
    ctx.instrument.field_rows = ctx.instrument.field_cols = std::size_t(img.rows());
    ctx.instrument.energy = EnergyAxis{0.0, 1.0, 1};
    st->begin(survey_of(img), ctx);
  }  // each strategy writes its line when destroyed
  ::unsetenv("AUTOSTEM_DKL_STATS");
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("\"patch\": 4,"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"patch\": 8,"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("\"patch\": 12,"), std::string::npos) << lines[2];
  std::remove(path.c_str());
}

TEST(DklStrategy, RegularisationParametersAreValidated) {
  EXPECT_THROW(strategies::make_dkl_strategy({{"weight_decay", "-0.1"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_dkl_strategy({{"min_noise", "-1"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_dkl_strategy({{"targets", "log"}}), std::invalid_argument);
  EXPECT_THROW(strategies::make_gp_strategy({{"pca", "4"}}), std::invalid_argument);
  // The defaults of docs/dkl.md (chosen on tuning seeds): 8×8 patches, 16 principal components.
  const auto defaults = strategies::make_dkl_strategy({})->parameters();
  EXPECT_EQ(defaults.at("patch"), "auto");  // 8 on the nanoparticles phantom (AutoPatchOfKnownSurveys)
  EXPECT_EQ(strategies::make_dkl_strategy({{"patch", "12"}})->parameters().at("patch"), "12");
  for (const char* bad : {"0", "-4", "8px", "automatic", ""})
    EXPECT_THROW(strategies::make_dkl_strategy({{"patch", bad}}), std::invalid_argument) << bad;
  EXPECT_EQ(defaults.at("pca"), "16");
  EXPECT_EQ(defaults.at("targets"), "standard");
  // pca larger than the patch (8×8 = 64 values): a clear error at begin().
  const Field f = make_field(16, 1);
  auto st = strategies::make_dkl_strategy({{"patch", "8"}, {"pca", "65"}});
  StrategyContext ctx;
  ctx.instrument = f.info;
  try {
    st->begin(survey_of(f.survey), ctx);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("pca=65 is more than the 64 values"), std::string::npos)
        << e.what();
  }
}

TEST(GpStrategy, RunsOnCoordinatesAndCoversTheFieldWhenAskedForAll) {
  const Field f = make_field(10, 6);
  auto value = [&](const Position& p) {
    return std::vector<float>{float(f.property(Eigen::Index(p.row), Eigen::Index(p.col)))};
  };
  auto st = strategies::make_gp_strategy({{"train_iters", "10"}, {"acquisition", "maxvar"}});
  const auto path = drive(*st, f, 1000, 3, value);
  EXPECT_EQ(path.size(), 100u);  // every pixel once, then propose() returns nothing
  EXPECT_TRUE(st->propose(1).empty());
}

}  // namespace
