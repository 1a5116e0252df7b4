// Atom finding (issue 9): matching, probability maps, and the classical LoG baseline on the real
// images of MANIFEST.md (haadf/graphene with published atom lists, haadf/atomap_sto).
#include <autostem/imaging/atoms.hpp>
#include <autostem/imaging/bragg.hpp>
#include <autostem/imaging/image_ops.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/datasets/signal.hpp>

#include "../support/atom_labels.hpp"
#include "../support/test_data.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numbers>
#include <random>
#include <sstream>

namespace {

using namespace autostem;
using autostem::testing::read_atoms_csv;
using autostem::testing::to_image;

std::vector<Position> positions(const std::vector<Atom>& atoms) {
  std::vector<Position> p;
  for (const auto& a : atoms) p.push_back(a.position);
  return p;
}

// A synthetic square lattice of Gaussian columns (spacing, σ in px) on a flat background.
ImageArray square_lattice(int rows, int cols, double spacing, double sigma, double offset,
                          std::vector<Position>* truth) {
  ImageArray img = ImageArray::Constant(rows, cols, 10.0);
  for (double r = offset; r < rows; r += spacing)
    for (double c = offset; c < cols; c += spacing) {
      if (truth) truth->push_back({r, c});
      for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) {
          const double d2 = (i - r) * (i - r) + (j - c) * (j - c);
          if (d2 < 25 * sigma * sigma) img(i, j) += 100.0 * std::exp(-0.5 * d2 / (sigma * sigma));
        }
    }
  return img;
}

TEST(MatchAtoms, CountsAndScores) {
  const std::vector<Position> truth{{0, 0}, {10, 10}, {20, 20}};
  const std::vector<Position> found{{0.5, 0}, {10, 12.5}, {30, 30}, {0, 1}};
  const auto s = match_atoms(found, truth, 3.0);
  EXPECT_EQ(s.true_positives, 2u);  // (0.5,0)↔(0,0) and (10,12.5)↔(10,10); (0,1) is a duplicate
  EXPECT_EQ(s.false_positives, 2u);
  EXPECT_EQ(s.false_negatives, 1u);
  EXPECT_DOUBLE_EQ(s.precision, 0.5);
  EXPECT_DOUBLE_EQ(s.recall, 2.0 / 3.0);
  EXPECT_NEAR(s.f1, 2 * 0.5 * (2.0 / 3.0) / (0.5 + 2.0 / 3.0), 1e-12);
  // The nearer candidate wins the one-to-one match.
  const auto g = match_atoms(std::vector<Position>{{0, 2}, {0, 0.5}}, std::vector<Position>{{0, 0}}, 3.0);
  EXPECT_EQ(g.true_positives, 1u);
  EXPECT_EQ(match_atoms({}, {}, 3.0).f1, 1.0);
  EXPECT_EQ(match_atoms(found, {}, 3.0).f1, 0.0);
  EXPECT_THROW(match_atoms(found, truth, 0.0), std::invalid_argument);
  EXPECT_THROW(match_atoms(std::vector<Position>{{NAN, 0}}, truth, 3.0), std::invalid_argument);
}

TEST(AtomsFromProbability, ComponentsCentroidsAndArea) {
  ImageArray p = ImageArray::Zero(20, 20);
  // Blob 1: 3×3 at rows 2–4, cols 2–4, heavier at (4,4) → centroid pulled towards it.
  p.block(2, 2, 3, 3) = 0.6;
  p(4, 4) = 1.0;
  // Blob 2: 2×2 uniform at (10..11, 15..16) → centroid (10.5, 15.5).
  p.block(10, 15, 2, 2) = 0.8;
  // A single pixel: below min_area 3.
  p(18, 1) = 0.9;
  // Diagonal neighbour of blob 2 joins it (8-connectivity).
  p(12, 17) = 0.8;
  const auto atoms = atoms_from_probability(p, 0.5, 3);
  ASSERT_EQ(atoms.size(), 2u);
  const double w = 8 * 0.6 + 1.0;
  EXPECT_NEAR(atoms[0].position.row, (0.6 * (2 + 3) * 3 + 0.6 * 4 * 2 + 4.0) / w, 1e-12);
  EXPECT_DOUBLE_EQ(atoms[0].probability, 1.0);
  EXPECT_NEAR(atoms[1].position.row, (10 * 2 + 11 * 2 + 12) / 5.0, 1e-12);
  EXPECT_NEAR(atoms[1].position.col, (15 * 2 + 16 * 2 + 17) / 5.0, 1e-12);
  EXPECT_EQ(atoms_from_probability(p, 0.5, 1).size(), 3u);
  EXPECT_TRUE(atoms_from_probability(ImageArray(), 0.5).empty());
  EXPECT_THROW(atoms_from_probability(p, 0.0), std::invalid_argument);
  p(0, 0) = NAN;
  EXPECT_THROW(atoms_from_probability(p, 0.5), std::invalid_argument);
}

TEST(FindAtomsLog, SyntheticSquareLatticeSubPixel) {
  std::vector<Position> truth;
  const ImageArray img = square_lattice(96, 96, 12.0, 2.0, 5.3, &truth);
  const double s = estimate_atom_spacing_px(img);
  EXPECT_NEAR(s, 12.0, 0.5);
  const auto atoms = find_atoms_log(img);
  const auto score = match_atoms(positions(atoms), truth, 1.0);
  EXPECT_EQ(score.f1, 1.0) << "found " << atoms.size() << " of " << truth.size();
  // Sub-pixel: the centroid refinement recovers the .3 offset to well under a pixel.
  double worst = 0;
  for (const auto& a : atoms) {
    const double fr = a.position.row - 5.3 - 12.0 * std::round((a.position.row - 5.3) / 12.0);
    const double fc = a.position.col - 5.3 - 12.0 * std::round((a.position.col - 5.3) / 12.0);
    worst = std::max(worst, std::hypot(fr, fc));
  }
  EXPECT_LT(worst, 0.15);
}

TEST(FindAtomsLog, NoLatticeMeansNoAtomsAndBadInputThrows) {
  EXPECT_TRUE(find_atoms_log(ImageArray::Constant(64, 64, 3.0)).empty());
  EXPECT_THROW(estimate_atom_spacing_px(ImageArray::Constant(64, 64, 3.0)), std::runtime_error);
  EXPECT_THROW(find_atoms_log(ImageArray()), std::invalid_argument);
  ImageArray bad = ImageArray::Zero(32, 32);
  bad(3, 3) = NAN;
  EXPECT_THROW(find_atoms_log(bad), std::invalid_argument);
  LogPeakOptions o;
  o.sigma_px = -1;
  EXPECT_THROW(find_atoms_log(ImageArray::Zero(32, 32), o), std::invalid_argument);
  EXPECT_THROW(estimate_atom_spacing_px(ImageArray::Zero(8, 8)), std::invalid_argument);
}

TEST(NeighbourCounts, SquareLattice) {
  std::vector<Atom> atoms;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) atoms.push_back({{r * 10.0, c * 10.0}});
  const auto n = neighbour_counts(atoms, 11.0);
  EXPECT_EQ(n[4], 4u);  // centre
  EXPECT_EQ(n[0], 2u);  // corner
  EXPECT_EQ(n[1], 3u);  // edge
}

// MANIFEST.md: G-Si-2nm.npy, 256×256, 140 atoms (AtomNet labels), median NN spacing ≈ 17 px.
TEST(FindAtomsLogReal, GrapheneSi) {
  AUTOSTEM_REQUIRE_DATA(img_path, "haadf/graphene/G-Si-2nm.npy");
  AUTOSTEM_REQUIRE_DATA(csv_path, "haadf/graphene/G-Si-2nm-atoms.csv");
  const ImageArray img = to_image(datasets::read_signal(img_path));
  const auto truth = read_atoms_csv(csv_path);
  ASSERT_EQ(truth.size(), 140u);
  const double s = estimate_atom_spacing_px(img);
  const auto atoms = find_atoms_log(img);
  const auto sc = match_atoms(positions(atoms), truth, 3.0);
  std::printf("G-Si-2nm: spacing %.2f px, found %zu, TP %zu FP %zu FN %zu, P %.3f R %.3f F1 %.3f\n", s, atoms.size(),
              sc.true_positives, sc.false_positives, sc.false_negatives, sc.precision, sc.recall, sc.f1);
  EXPECT_NEAR(s, 17.0, 1.5);
  // Measured: P 0.75, R 0.81, F1 0.78 (σ = 0.3 s); the images are shot-noise dominated, the
  // centroid error is ~1.4 px per axis, so ~10 % of true atoms fall outside 3 px.
  EXPECT_GT(sc.f1, 0.75);
  EXPECT_GT(sc.recall, 0.78);
}

// MANIFEST.md: G-GrainBoundary-4nm.npy, 512×512, 606 atoms.
TEST(FindAtomsLogReal, GrapheneGrainBoundary) {
  AUTOSTEM_REQUIRE_DATA(img_path, "haadf/graphene/G-GrainBoundary-4nm.npy");
  AUTOSTEM_REQUIRE_DATA(csv_path, "haadf/graphene/G-GrainBoundary-4nm-atoms.csv");
  const ImageArray img = to_image(datasets::read_signal(img_path));
  const auto truth = read_atoms_csv(csv_path);
  ASSERT_EQ(truth.size(), 606u);
  const double s = estimate_atom_spacing_px(img);
  const auto atoms = find_atoms_log(img);
  const auto sc = match_atoms(positions(atoms), truth, 3.0);
  std::printf("G-GrainBoundary-4nm: spacing %.2f px, found %zu, TP %zu FP %zu FN %zu, P %.3f R %.3f F1 %.3f\n", s,
              atoms.size(), sc.true_positives, sc.false_positives, sc.false_negatives, sc.precision, sc.recall, sc.f1);
  EXPECT_NEAR(s, 17.0, 1.5);
  // Measured: P 0.75, R 0.74, F1 0.75.
  EXPECT_GT(sc.f1, 0.72);
}

// ---------------------------------------------------------------------------------------------
// Bragg filter (core/bragg.hpp).

TEST(BraggFilter, RejectsBadInput) {
  EXPECT_THROW(bragg_filter(ImageArray()), std::invalid_argument);
  EXPECT_THROW(bragg_filter(ImageArray::Ones(8, 64)), std::invalid_argument);
  ImageArray nan = ImageArray::Ones(32, 32);
  nan(3, 4) = std::nan("");
  EXPECT_THROW(bragg_filter(nan), std::invalid_argument);
  BraggFilterOptions o;
  o.spacing_px = 8;
  o.min_frequency = 2.0;  // above max_frequency
  EXPECT_THROW(bragg_filter(ImageArray::Ones(32, 32), o), std::invalid_argument);
  o = {};
  o.relative_power = 0;
  EXPECT_THROW(bragg_filter(ImageArray::Ones(32, 32), o), std::invalid_argument);
  o = {};
  o.spot_sigma = -1;
  EXPECT_THROW(bragg_filter(ImageArray::Ones(32, 32), o), std::invalid_argument);
  // A constant image has no lattice: the spacing cannot be estimated.
  EXPECT_THROW(bragg_filter(ImageArray::Constant(64, 64, 5.0)), std::runtime_error);
  // With a given spacing it is left as it is (no spot; the centre window keeps the mean).
  o = {};
  o.spacing_px = 10;
  EXPECT_LT((bragg_filter(ImageArray::Constant(64, 64, 5.0), o) - 5.0).abs().maxCoeff(), 1e-9);
}

// Shot noise on a square lattice (also a non-power-of-two size): the filter brings the image much
// closer to the noise-free one, and the LoG finder on it finds every column.
// Border treatment: a noise-free lattice whose periods do not divide the field. With the DFT's
// wrap-around the far edge's fringes (at another phase) leak into the near edge; zero padding +
// normalised convolution (BraggEdge::normalized, the default) keeps phase and amplitude there.
TEST(BraggFilter, NormalizedEdgesKeepTheLatticeAtTheBorder) {
  const Eigen::Index n = 128;
  ImageArray img(n, n);
  const double two_pi = 6.283185307179586;
  for (Eigen::Index r = 0; r < n; ++r)
    for (Eigen::Index c = 0; c < n; ++c)
      img(r, c) = 10 + std::cos(two_pi * (0.07 * r + 0.031 * c)) + std::cos(two_pi * (-0.05 * r + 0.06 * c + 0.2));
  const auto border_rms = [&](const ImageArray& out, Eigen::Index band) {
    double sum = 0;
    std::size_t k = 0;
    for (Eigen::Index r = 0; r < n; ++r)
      for (Eigen::Index c = 0; c < n; ++c)
        if (std::min({r, c, n - 1 - r, n - 1 - c}) < band) {
          sum += (out(r, c) - img(r, c)) * (out(r, c) - img(r, c));
          ++k;
        }
    return std::sqrt(sum / static_cast<double>(k));
  };
  BraggFilterOptions o;
  o.spacing_px = 10.0;
  o.edge = BraggEdge::periodic;
  const double periodic = border_rms(bragg_filter(img, o), 8);
  o.edge = BraggEdge::normalized;
  const ImageArray out = bragg_filter(img, o);
  const double normalized = border_rms(out, 8);
  std::printf("border rms error (8 px band): periodic %.3f, normalized %.3f; interior %.4f\n", periodic, normalized,
              std::sqrt((out - img).block(16, 16, n - 32, n - 32).square().mean()));
  EXPECT_LT(normalized, 0.5 * periodic);
  EXPECT_LT(std::sqrt((out - img).block(16, 16, n - 32, n - 32).square().mean()), 0.1);
}

TEST(BraggFilter, DenoisesAPoissonLattice) {
  std::vector<Position> truth;
  const ImageArray clean = square_lattice(90, 100, 10.0, 1.8, 5.0, &truth);
  std::mt19937 rng(7);
  ImageArray noisy = clean;
  for (Eigen::Index i = 0; i < noisy.size(); ++i)
    noisy.data()[i] = std::poisson_distribution<int>(0.05 * clean.data()[i])(rng) / 0.05;
  const ImageArray f = bragg_filter(noisy);
  const double err_noisy = std::sqrt((noisy - clean).square().mean());
  const double err_f = std::sqrt((f - clean).square().mean());
  std::printf("Poisson lattice: RMS error noisy %.2f, Bragg-filtered %.2f\n", err_noisy, err_f);
  EXPECT_LT(err_f, 0.4 * err_noisy);
  const auto atoms = find_atoms_log(f);
  EXPECT_EQ(match_atoms(positions(atoms), truth, 1.5).f1, 1.0) << atoms.size() << " of " << truth.size();
}

// The issue-9 figures: LoG on the Bragg-filtered graphene images, detections closer than 0.3 s to
// the edge dropped (the published labels skip border atoms), F1 at 3 px, with the unfiltered LoG
// scored the same way beside. Measured (docs/atoms.md "Bragg filter"): G-Si 0.821 → 0.971
// (0.953 with the DFT's periodic border), grain boundary 0.768 → 0.943 (0.944). The filter's
// defaults were chosen on these two images.
TEST(BraggFilter, GrapheneF1) {
  struct Case {
    const char* name;
    std::size_t n;
    double min_f1;
  };
  std::vector<double> border_free;
  for (const Case c : {Case{"G-Si-2nm", 140, 0.96}, Case{"G-GrainBoundary-4nm", 606, 0.93}}) {
    AUTOSTEM_REQUIRE_DATA(img_path, std::string("haadf/graphene/") + c.name + ".npy");
    AUTOSTEM_REQUIRE_DATA(csv_path, std::string("haadf/graphene/") + c.name + "-atoms.csv");
    const ImageArray img = to_image(datasets::read_signal(img_path));
    const auto truth = read_atoms_csv(csv_path);
    ASSERT_EQ(truth.size(), c.n);
    const double s = estimate_atom_spacing_px(img);
    BraggFilterOptions bo;
    bo.spacing_px = s;
    LogPeakOptions lo;
    lo.spacing_px = s;
    const double border = 0.3 * s;
    auto inner = [&](const std::vector<Atom>& atoms) {
      std::vector<Position> p;
      for (const auto& a : atoms)
        if (std::min({a.position.row, a.position.col, static_cast<double>(img.rows()) - 1 - a.position.row,
                      static_cast<double>(img.cols()) - 1 - a.position.col}) >= border)
          p.push_back(a.position);
      return p;
    };
    const auto plain = match_atoms(inner(find_atoms_log(img, lo)), truth, 3.0);
    const auto found = inner(find_atoms_log(bragg_filter(img, bo), lo));
    const auto sc = match_atoms(found, truth, 3.0);
    std::printf("%s: LoG F1 %.3f, Bragg + LoG found %zu, P %.3f R %.3f F1 %.3f (border %.1f px)\n", c.name,
                plain.f1, found.size(), sc.precision, sc.recall, sc.f1, border);
    EXPECT_GE(sc.f1, c.min_f1) << c.name;
    EXPECT_GT(sc.f1, plain.f1 + 0.08) << c.name;
    border_free.push_back(match_atoms(positions(find_atoms_log(bragg_filter(img, bo), lo)), truth, 3.0).f1);
    std::printf("%s without the border rule: Bragg + LoG F1 %.3f\n", c.name, border_free.back());
  }
}

// lattice_snr (issue 15, the measure behind denoise=auto): unit-free, ≈ 0 on pure shot noise,
// rising with the dose on the lattice phantom (the SNR of Poisson-limited contrast grows as
// √dose), and ≈ 0.25 on both real 60 kV graphene images (measured statistics of those images: a
// lattice contrast of about a quarter of the per-pixel shot noise).
TEST(BraggFilter, LatticeSnrIsUnitFreeAndGrowsWithTheDose) {
  std::mt19937 rng(3);
  ImageArray noise(128, 128);
  for (Eigen::Index i = 0; i < noise.size(); ++i) noise.data()[i] = std::poisson_distribution<int>(5.0)(rng);
  EXPECT_LT(lattice_snr(noise, 10.0), 0.08);
  double last = 0;
  for (const double dose : {2.0, 8.0, 32.0, 128.0}) {
    datasets::LatticeOptions o;
    o.rows = o.cols = 192;
    o.spacing_min_px = o.spacing_max_px = 12.0;
    o.dose_min = o.dose_max = dose;
    o.background_counts = 2.0;
    o.readout_sd_counts = 0.3;
    const auto sample = datasets::make_lattice(o, 11);
    const double v = lattice_snr(sample.image, sample.spacing_px);
    std::printf("lattice phantom, dose %.0f: lattice_snr %.3f\n", dose, v);
    EXPECT_GT(v, last * 1.4) << "dose " << dose;
    last = v;
    for (const auto& [gain, offset] : {std::pair{1e-3, 0.0}, std::pair{4096.0, -7.0}, std::pair{1.0, 1e4}})
      EXPECT_NEAR(lattice_snr(sample.image * gain + offset, sample.spacing_px), v, 1e-6 * v) << gain << " " << offset;
  }
  EXPECT_GT(last, 1.5);
  for (const char* name : {"G-Si-2nm", "G-GrainBoundary-4nm"}) {
    AUTOSTEM_REQUIRE_DATA(path, std::string("haadf/graphene/") + name + ".npy");
    const ImageArray img = to_image(datasets::read_signal(path));
    const double v = lattice_snr(img, estimate_atom_spacing_px(img));
    std::printf("%s: lattice_snr %.3f\n", name, v);
    EXPECT_GT(v, 0.15) << name;
    EXPECT_LT(v, 0.4) << name;
  }
  EXPECT_THROW(lattice_snr(ImageArray(8, 8), 4.0), std::invalid_argument);
  EXPECT_THROW(lattice_snr(noise, 1.0), std::invalid_argument);
}

// Why the finders do not Bragg-filter by default (docs/atoms.md "Bragg filter"): the filter imposes
// the lattice's periodicity and puts an atom on most vacancy sites of the lattice phantom
// (graphene, 3 % vacancies; "filled": a found atom within 0.3 s of the site).
TEST(BraggFilter, FillsPhantomVacancies) {
  std::size_t vac = 0, filled_none = 0, filled_bragg = 0;
  for (std::uint64_t seed = 0; seed < 4; ++seed) {
    datasets::LatticeOptions o;
    o.rows = o.cols = 128;
    o.vacancy_fraction = 0.03;
    const auto sample = datasets::make_lattice(o, seed);
    const double r = 0.3 * sample.spacing_px;
    for (const bool bragg : {false, true}) {
      const auto atoms = find_atoms_log(bragg ? bragg_filter(sample.image) : sample.image);
      for (const auto& v : sample.vacancies) {
        bool filled = false;
        for (const auto& a : atoms) filled |= std::hypot(a.position.row - v.row, a.position.col - v.col) < r;
        (bragg ? filled_bragg : filled_none) += filled;
      }
    }
    vac += sample.vacancies.size();
  }
  std::printf("lattice phantom: %zu vacancies, filled by LoG %zu, by Bragg + LoG %zu\n", vac, filled_none, filled_bragg);
  EXPECT_LE(filled_none, 1u);
  EXPECT_GE(filled_bragg, vac / 2) << "if the filter now keeps vacancies, reconsider the default";
}

// MANIFEST.md: atomap's SrTiO3 ADF test image, (400, 380), 9.326 pm/px; atomap's test finds 104
// B-site columns. In this projection the bright A (Sr) columns form rows ~29 px apart with a
// 42 px period along the row; the dimmer B columns sit half-way between two A columns. atomap
// counts the B columns found between A neighbours, i.e. those not on the image border: here,
// dim columns at least half an atom spacing from every edge.
TEST(FindAtomsLogReal, SrTiO3SublatticesAndBSiteCount) {
  AUTOSTEM_REQUIRE_DATA(path, "haadf/atomap_sto/test_ADF_cropped.hdf5");
  const ImageArray img = to_image(datasets::read_signal(path));
  ASSERT_EQ(img.rows(), 400);
  ASSERT_EQ(img.cols(), 380);
  const double s = estimate_atom_spacing_px(img);
  auto atoms = find_atoms_log(img);
  const double t = split_atoms_by_intensity(img, atoms, 0, 1, 2.0);
  std::size_t na = 0, nb = 0, nb_inner = 0;
  double mean_a = 0, mean_b = 0;
  const ImageArray sm = gaussian_blur(img, 2.0);
  for (const auto& a : atoms) {
    const double v = sample_bilinear(sm, a.position.row, a.position.col);
    if (a.cls == 0) {
      ++na;
      mean_a += v;
    } else {
      ++nb;
      mean_b += v;
      const auto& p = a.position;
      if (std::min({p.row, p.col, 399.0 - p.row, 379.0 - p.col}) >= 0.5 * s) ++nb_inner;
    }
  }
  mean_a /= static_cast<double>(std::max<std::size_t>(na, 1));
  mean_b /= static_cast<double>(std::max<std::size_t>(nb, 1));
  std::printf("STO ADF: spacing %.2f px, %zu columns, A %zu (mean %.0f), B %zu (mean %.0f), threshold %.0f, "
              "B inside %zu\n", s, atoms.size(), na, mean_a, nb, mean_b, t, nb_inner);
  EXPECT_NEAR(s, 21.0, 1.5);  // A–B distance along the rows
  EXPECT_NEAR(static_cast<double>(nb_inner), 104.0, 2.0);
  // A and B are separated: the A mean is well above the B mean (Z-contrast Sr 38 vs Ti 22).
  EXPECT_GT(mean_a, 1.3 * mean_b);
  // Every B column's nearest bright neighbour is an A column about one spacing away along its row.
  std::size_t b_between_a = 0;
  for (const auto& b : atoms) {
    if (b.cls != 1) continue;
    int left = 0, right = 0;
    for (const auto& a : atoms)
      if (a.cls == 0 && std::abs(a.position.row - b.position.row) < 0.25 * s &&
          std::abs(std::abs(a.position.col - b.position.col) - s) < 0.25 * s)
        (a.position.col < b.position.col ? left : right) = 1;
    if (left && right) ++b_between_a;
  }
  EXPECT_NEAR(static_cast<double>(b_between_a), 104.0, 2.0);
  // With the Bragg filter (not the default, docs/atoms.md "Bragg filter"): with the DFT's periodic
  // border the weak B-site columns near the edges were lost (92 inside); with the normalised
  // border (the default edge treatment) the count is atomap's again.
  auto bragg_atoms = find_atoms_log(bragg_filter(img));
  split_atoms_by_intensity(img, bragg_atoms, 0, 1, 2.0);
  std::size_t nb_bragg = 0;
  for (const auto& a : bragg_atoms)
    if (a.cls == 1 && std::min({a.position.row, a.position.col, 399.0 - a.position.row, 379.0 - a.position.col}) >= 0.5 * s)
      ++nb_bragg;
  std::printf("STO ADF with the Bragg filter: %zu columns, B inside %zu\n", bragg_atoms.size(), nb_bragg);
  EXPECT_NEAR(static_cast<double>(nb_bragg), 104.0, 2.0);
  BraggFilterOptions periodic;
  periodic.edge = BraggEdge::periodic;
  auto periodic_atoms = find_atoms_log(bragg_filter(img, periodic));
  split_atoms_by_intensity(img, periodic_atoms, 0, 1, 2.0);
  std::size_t nb_periodic = 0;
  for (const auto& a : periodic_atoms)
    if (a.cls == 1 && std::min({a.position.row, a.position.col, 399.0 - a.position.row, 379.0 - a.position.col}) >= 0.5 * s)
      ++nb_periodic;
  std::printf("STO ADF with the periodic-border Bragg filter: B inside %zu\n", nb_periodic);
  EXPECT_LT(nb_periodic, nb_bragg);
}


// ---------------------------------------------------------------------------------------------
// Issue 15: regions that are not lattice. A honeycomb (graphene-like: nearest-neighbour spacing s,
// columns of σ = 0.22 s and `dose` peak counts on 5 counts of background, Poisson noise) made
// here, so that the test does not depend on the lattice phantom's options.
ImageArray honeycomb(int rows, int cols, double s, double dose, double angle, std::uint64_t seed,
                     std::vector<Position>* truth = nullptr, double background = 5.0) {
  const double a = std::sqrt(3.0) * s;
  const double ca = std::cos(angle), sa = std::sin(angle);
  const Position a1{a * sa, a * ca}, a2{a * std::sin(angle + std::numbers::pi / 3), a * std::cos(angle + std::numbers::pi / 3)};
  const Position b1{(a1.row + a2.row) / 3, (a1.col + a2.col) / 3};
  const double sigma = 0.22 * s;
  ImageArray clean = ImageArray::Constant(rows, cols, background);
  const int n = static_cast<int>(2 * std::max(rows, cols) / a) + 2;
  for (int i = -n; i <= n; ++i)
    for (int j = -n; j <= n; ++j)
      for (const Position& b : {Position{0, 0}, b1}) {
        const double r = rows / 2.0 + i * a1.row + j * a2.row + b.row, c = cols / 2.0 + i * a1.col + j * a2.col + b.col;
        if (r < -3 * sigma || c < -3 * sigma || r > rows - 1 + 3 * sigma || c > cols - 1 + 3 * sigma) continue;
        if (truth && r >= 0 && c >= 0 && r <= rows - 1 && c <= cols - 1) truth->push_back({r, c});
        for (int y = std::max(0, static_cast<int>(r - 4 * sigma)); y <= std::min(rows - 1, static_cast<int>(r + 4 * sigma)); ++y)
          for (int x = std::max(0, static_cast<int>(c - 4 * sigma)); x <= std::min(cols - 1, static_cast<int>(c + 4 * sigma)); ++x)
            clean(y, x) += dose * std::exp(-0.5 * ((y - r) * (y - r) + (x - c) * (x - c)) / (sigma * sigma));
      }
  std::mt19937_64 rng(seed);
  ImageArray img(rows, cols);
  for (Eigen::Index k = 0; k < img.size(); ++k) img.data()[k] = std::poisson_distribution<int>(clean.data()[k])(rng);
  return img;
}

// A saturated disc (3 × the image maximum, centre (150, 160), radius 50) and vacuum over the left
// 90 columns (readout noise only) on honeycombs of 3 spacings and doses: the disc and the vacuum
// (≥ 95 % of its pixels more than 3 spacings from the lattice: the region's edge is located only
// to a few spacings) are found, the lattice more than 1 spacing away from them is kept, the spacing is the lattice's, and neither a gain
// nor an offset changes the map.
TEST(LatticeRegion, FindsASaturatedDiscAndVacuumAndTheSpacingOfTheLattice) {
  struct Case {
    double s, dose;
    std::uint64_t seed;
  };
  for (const Case k : {Case{8.0, 20.0, 1}, Case{14.0, 60.0, 2}, Case{21.0, 10.0, 3}}) {
    SCOPED_TRACE("spacing " + std::to_string(k.s) + ", dose " + std::to_string(k.dose));
    const ImageArray lattice = honeycomb(256, 256, k.s, k.dose, 0.1 * static_cast<double>(k.seed), k.seed);
    const LatticeRegion plain = find_lattice_region(lattice);
    // (the spacing estimate itself is low on these noisy honeycombs: 7.6 for 8, 13.5 for 14, 19.6
    // for 21 at dose 10 without the disc and the vacuum, 19.0 with them)
    EXPECT_NEAR(plain.spacing_px, k.s, 0.1 * k.s);
    EXPECT_GE(plain.lattice_fraction, 0.99);

    ImageArray img = lattice;
    const double top = 3.0 * img.maxCoeff();
    std::mt19937_64 rng(k.seed + 100);
    std::normal_distribution<double> readout(0.0, 1.0);
    const auto in_disc = [](Eigen::Index r, Eigen::Index c) { return std::hypot(r - 150.0, c - 160.0) <= 50.0; };
    for (Eigen::Index r = 0; r < img.rows(); ++r)
      for (Eigen::Index c = 0; c < img.cols(); ++c) {
        if (in_disc(r, c)) img(r, c) = top;
        if (c < 90) img(r, c) = readout(rng);
      }
    const LatticeRegion region = find_lattice_region(img);
    EXPECT_NEAR(region.spacing_px, k.s, 0.1 * k.s);
    std::size_t disc = 0, disc_found = 0, vac = 0, vac_found = 0, far = 0, far_lattice = 0;
    for (Eigen::Index r = 0; r < img.rows(); ++r)
      for (Eigen::Index c = 0; c < img.cols(); ++c) {
        const auto kind = static_cast<RegionKind>(region.kind(r, c));
        if (in_disc(r, c)) {
          ++disc;
          disc_found += kind == RegionKind::bright;
        } else if (c < 90 - 3 * k.s) {
          ++vac;
          vac_found += kind != RegionKind::lattice;
        } else if (std::hypot(r - 150.0, c - 160.0) > 50.0 + k.s && c >= 90 + k.s) {
          ++far;
          far_lattice += kind == RegionKind::lattice;
        }
        if (kind != RegionKind::lattice) {
          EXPECT_EQ(region.image(r, c), region.image(0, 0));  // one fill value (the vacuum's corner)
        }
      }
    EXPECT_GE(static_cast<double>(disc_found), 0.99 * static_cast<double>(disc));
    EXPECT_GE(static_cast<double>(vac_found), 0.95 * static_cast<double>(vac));
    EXPECT_GE(static_cast<double>(far_lattice), 0.98 * static_cast<double>(far));
    std::printf("honeycomb s = %.0f, dose %.0f: spacing %.2f (plain %.2f); disc %.3f, vacuum %.3f found; lattice "
                "beyond 1 s of them %.3f kept\n",
                k.s, k.dose, region.spacing_px, plain.spacing_px, static_cast<double>(disc_found) / disc,
                static_cast<double>(vac_found) / vac, static_cast<double>(far_lattice) / far);
    // Units: a gain and an offset change neither the map nor (beyond rounding) the image.
    for (const auto& [gain, offset] : {std::pair{1e-3, 7.0}, std::pair{4096.0, -300.0}}) {
      const LatticeRegion changed = find_lattice_region(img * gain + offset);
      EXPECT_EQ((changed.kind != region.kind).count(), 0) << "gain " << gain << ", offset " << offset;
      EXPECT_LE((changed.image - region.image).abs().maxCoeff(), 1e-9);
      EXPECT_NEAR(changed.spacing_px, region.spacing_px, 1e-6);
    }
  }
}

// Vacuum at the 60 kV graphene images' dose (2 counts at a column's peak over 0.5 of support;
// the vacuum is 0.2 counts): the lattice's mean (0.97 counts, r.m.s. 1.10) is only ≈ 0.7 r.m.s. above
// the vacuum's, so the texture-based dark test alone (dark_spread_z = 0) misses it; the test
// against the local mean's own spread over the lattice (the default) finds it and keeps the lattice.
TEST(LatticeRegion, FindsVacuumAtLowDose) {
  for (const std::uint64_t seed : {5u, 6u}) {
    ImageArray img = honeycomb(256, 256, 12.0, 2.0, 0.3, seed, nullptr, 0.5);
    std::mt19937_64 rng(seed + 50);
    for (Eigen::Index r = 0; r < img.rows(); ++r)
      for (Eigen::Index c = 0; c < 90; ++c) img(r, c) = std::poisson_distribution<int>(0.2)(rng);
    const auto share = [&](const LatticeRegion& region, bool vacuum) {
      std::size_t n = 0, hit = 0;
      for (Eigen::Index r = 0; r < img.rows(); ++r)
        for (Eigen::Index c = 0; c < img.cols(); ++c) {
          const bool in = vacuum ? c < 90 - 24 : c >= 90 + 24;
          if (!in) continue;
          ++n;
          hit += (region.kind(r, c) != static_cast<std::uint8_t>(RegionKind::lattice)) == vacuum;
        }
      return static_cast<double>(hit) / static_cast<double>(n);
    };
    const LatticeRegion region = find_lattice_region(img);
    LatticeRegionOptions off;
    off.dark_spread_z = 0;
    const LatticeRegion old = find_lattice_region(img, off);
    std::printf("low-dose honeycomb, seed %llu: vacuum found %.3f (texture test alone %.3f), lattice kept %.3f\n",
                static_cast<unsigned long long>(seed), share(region, true), share(old, true), share(region, false));
    EXPECT_GE(share(region, true), 0.95);
    EXPECT_GE(share(region, false), 0.98);
    EXPECT_LT(share(old, true), 0.5) << "the texture test now finds this vacuum: the phantom no longer shows why";
  }
  LatticeRegionOptions bad;
  bad.dark_spread_z = -1;
  EXPECT_THROW(find_lattice_region(honeycomb(64, 64, 8.0, 20.0, 0.0, 1), bad), std::invalid_argument);
}

TEST(LatticeRegion, BadInputThrowsAndNoLatticeIsReported) {
  EXPECT_THROW(find_lattice_region(ImageArray()), std::invalid_argument);
  EXPECT_THROW(find_lattice_region(ImageArray::Zero(8, 64)), std::invalid_argument);
  ImageArray bad = ImageArray::Zero(32, 32);
  bad(3, 3) = NAN;
  EXPECT_THROW(find_lattice_region(bad), std::invalid_argument);
  LatticeRegionOptions o;
  o.bright_z = 0;
  EXPECT_THROW(find_lattice_region(ImageArray::Zero(32, 32), o), std::invalid_argument);
  o = {};
  o.clip_percent = 50;
  EXPECT_THROW(find_lattice_region(ImageArray::Zero(32, 32), o), std::invalid_argument);
  // A constant image: no lattice periodicity, spacing 0, every pixel not lattice.
  const LatticeRegion flat = find_lattice_region(ImageArray::Constant(64, 64, 3.0));
  EXPECT_EQ(flat.spacing_px, 0.0);
  EXPECT_EQ(flat.lattice_fraction, 0.0);
  EXPECT_TRUE(in_non_lattice_region(flat.kind, {10, 10}));
  EXPECT_FALSE(in_non_lattice_region(flat.kind, {-5, 10}));  // outside the map
  EXPECT_FALSE(in_non_lattice_region(RegionMap(), {10, 10}));
}

}  // namespace
