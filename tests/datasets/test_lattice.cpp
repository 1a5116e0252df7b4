// The `lattice` phantom (issue 9): determinism, atom density, classes, defects, spectra.
#include <autostem/imaging/atoms.hpp>
#include <autostem/imaging/scalarizer.hpp>
#include <autostem/datasets/phantoms.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace {

namespace ds = autostem::datasets;
using autostem::Position;
using ImageLike = autostem::ImageArray;

std::size_t count_inner(const ds::LatticeSample& s, double border) {
  const double R = static_cast<double>(s.image.rows()), C = static_cast<double>(s.image.cols());
  return static_cast<std::size_t>(std::count_if(s.atoms.begin(), s.atoms.end(), [&](const ds::LatticeAtom& a) {
    return a.position.row >= border && a.position.col >= border && a.position.row <= R - 1 - border &&
           a.position.col <= C - 1 - border;
  }));
}

TEST(Lattice, DeterministicPerSeed) {
  ds::LatticeOptions o;
  o.rows = 96;
  o.cols = 80;
  const auto a = ds::make_lattice(o, 5), b = ds::make_lattice(o, 5), c = ds::make_lattice(o, 6);
  EXPECT_TRUE((a.image == b.image).all());
  ASSERT_EQ(a.atoms.size(), b.atoms.size());
  for (std::size_t k = 0; k < a.atoms.size(); ++k) EXPECT_EQ(a.atoms[k].position, b.atoms[k].position);
  EXPECT_FALSE((a.image == c.image).all());
  EXPECT_EQ(a.image.rows(), 96);
  EXPECT_EQ(a.image.cols(), 80);
  EXPECT_TRUE((a.image >= 0).all());
}

// Honeycomb: 4 / (3√3 s²) atoms per px² at nearest-neighbour spacing s; square A lattice with
// B at the centres: 2 columns per (√2 s)² = 1 / s². Counted away from the border (the distortions
// stretch the field by at most drift_max_px) within 8 %.
TEST(Lattice, AtomDensityMatchesTheLattice) {
  for (auto kind : {ds::LatticeKind::graphene, ds::LatticeKind::perovskite})
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      ds::LatticeOptions o;
      o.kind = kind;
      o.rows = o.cols = 200;
      o.vacancy_fraction = 0;
      const auto s = ds::make_lattice(o, seed);
      const double border = 10.0;
      const double area = (200.0 - 1 - 2 * border) * (200.0 - 1 - 2 * border);
      const double density = kind == ds::LatticeKind::graphene ? 4.0 / (3.0 * std::sqrt(3.0) * s.spacing_px * s.spacing_px)
                                                               : 1.0 / (s.spacing_px * s.spacing_px);
      EXPECT_NEAR(static_cast<double>(count_inner(s, border)) / (density * area), 1.0, 0.08)
          << "kind " << static_cast<int>(kind) << " seed " << seed;
      // Nearest-neighbour spacing of the listed atoms equals the drawn spacing (drift < 1 %).
      std::vector<autostem::Atom> atoms;
      for (const auto& a : s.atoms) atoms.push_back({a.position});
      const auto n = autostem::neighbour_counts(atoms, 1.1 * s.spacing_px);
      const auto inner_typical = kind == ds::LatticeKind::graphene ? 3u : 4u;
      std::size_t typical = 0, inner = 0;
      for (std::size_t k = 0; k < atoms.size(); ++k) {
        const auto& p = atoms[k].position;
        if (std::min({p.row, p.col, 199 - p.row, 199 - p.col}) < 2 * s.spacing_px) continue;
        ++inner;
        typical += n[k] == inner_typical;
      }
      EXPECT_GT(static_cast<double>(typical), 0.95 * static_cast<double>(inner));
    }
}

TEST(Lattice, ClassesDopantsAndVacancies) {
  ds::LatticeOptions o;
  o.rows = o.cols = 256;
  o.dopant_fraction = 0.05;
  o.vacancy_fraction = 0.03;
  const auto g = ds::make_lattice(o, 11);
  std::size_t si = 0, c = 0, nbr = 0;
  for (const auto& a : g.atoms) {
    if (a.cls == 1) {
      ++si;
      EXPECT_EQ(a.kind, ds::SiteKind::dopant);
      EXPECT_EQ(a.z, 14.0);
    } else {
      ++c;
      EXPECT_EQ(a.cls, 0);
    }
    nbr += a.kind == ds::SiteKind::vacancy_neighbour;
  }
  // Binomial: 5 % of ~the atoms, ±4σ.
  const double n = static_cast<double>(g.atoms.size());
  EXPECT_NEAR(static_cast<double>(si), 0.05 * n, 4 * std::sqrt(0.05 * 0.95 * n));
  EXPECT_GT(g.vacancies.size(), 0u);
  EXPECT_GE(nbr, g.vacancies.size());  // each vacancy has up to 3 neighbours
  // Si (Z 14) is brighter than C (Z 6): the clean image at a Si site ≈ (14/6)^1.7 × a C site.
  double vsi = 0, vc = 0;
  for (const auto& a : g.atoms) {
    const double v = g.clean(static_cast<Eigen::Index>(std::lround(a.position.row)),
                             static_cast<Eigen::Index>(std::lround(a.position.col)));
    (a.cls == 1 ? vsi : vc) += v / static_cast<double>(a.cls == 1 ? si : c);
  }
  EXPECT_NEAR((vsi - o.background_counts) / (vc - o.background_counts), std::pow(14.0 / 6.0, 1.7), 0.6);

  o.kind = ds::LatticeKind::perovskite;
  const auto p = ds::make_lattice(o, 11);
  std::size_t na = 0, nb = 0, nd = 0;
  for (const auto& a : p.atoms) (a.cls == 0 ? na : a.cls == 1 ? nb : nd)++;
  EXPECT_NEAR(static_cast<double>(na) / static_cast<double>(nb + nd), 1.0, 0.1);
  EXPECT_GT(nd, 0u);
}

// Issue 15: the perovskite viewed along [110] (atomap's SrTiO3 image): A and B alternate along
// the rows (A–B = s, the nearest-neighbour spacing), rows √2 s apart with A above A; as many A
// as B columns; pixel size a/2 / s. The projection is drawn per sample with its probability.
TEST(Lattice, PerovskiteViewedAlong110) {
  ds::LatticeOptions o;
  o.kind = ds::LatticeKind::perovskite;
  o.rows = o.cols = 200;
  o.random_rotation = false;
  o.drift_max_px = 0.0;
  o.jitter_sd_px = 0.0;
  o.vacancy_fraction = 0.0;
  o.perovskite_110_probability = 1.0;
  const auto p = ds::make_lattice(o, 5);
  ASSERT_TRUE(p.projection_110);
  const double s = p.spacing_px;
  EXPECT_NEAR(p.pixel_size_nm * s, 0.3905 / 2.0, 1e-12);
  std::size_t na = 0, nb = 0, between = 0, inner_b = 0;
  double aa_min = 1e9;
  for (const auto& a : p.atoms) {
    (a.cls == 0 ? na : nb)++;
    if (a.cls == 0) {
      for (const auto& b : p.atoms)
        if (b.cls == 0 && &a != &b)
          aa_min = std::min(aa_min, std::hypot(a.position.row - b.position.row, a.position.col - b.position.col));
      continue;
    }
    if (a.position.col < s + 2 || a.position.col > 197 - s) continue;
    ++inner_b;
    int left = 0, right = 0;
    for (const auto& b : p.atoms) {
      if (b.cls != 0 || std::abs(b.position.row - a.position.row) > 0.1) continue;
      if (std::abs(b.position.col - (a.position.col - s)) < 0.1) ++left;
      if (std::abs(b.position.col - (a.position.col + s)) < 0.1) ++right;
    }
    between += left == 1 && right == 1;
  }
  EXPECT_NEAR(static_cast<double>(na) / static_cast<double>(nb), 1.0, 0.1);
  EXPECT_EQ(between, inner_b);  // every B (away from the edges) sits between two A along its row
  EXPECT_NEAR(aa_min, std::sqrt(2.0) * s, 1e-6);  // A above A, one row (√2 s) apart
  // Probability 0 draws nothing: the [001] sample is the one made without the option.
  o.perovskite_110_probability = 0.0;
  const auto q = ds::make_lattice(o, 5);
  EXPECT_FALSE(q.projection_110);
  EXPECT_NEAR(q.pixel_size_nm * q.spacing_px, 0.3905 / std::sqrt(2.0), 1e-12);
  // Probability 0.5: both projections occur over 20 seeds.
  o.perovskite_110_probability = 0.5;
  std::size_t n110 = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) n110 += ds::make_lattice(o, seed).projection_110;
  EXPECT_GT(n110, 3u);
  EXPECT_LT(n110, 17u);
  o.perovskite_110_probability = 1.5;
  EXPECT_THROW(ds::make_lattice(o, 1), std::invalid_argument);
  // A Z-contrast exponent range: drawn per sample, within the range.
  o.perovskite_110_probability = 1.0;
  o.z_exponent_min = 1.2;
  o.z_exponent_max = 2.0;
  const auto z = ds::make_lattice(o, 7);
  EXPECT_GE(z.z_exponent, 1.2);
  EXPECT_LE(z.z_exponent, 2.0);
  // Fixed exponents 1.2 and 2.0, same seed: same atoms; A peaks (Z_ref) unchanged, each B peak
  // scaled by (22/38)^(2.0 − 1.2) (narrow probe: the columns do not overlap).
  o.probe_sigma_min = o.probe_sigma_max = 0.08;
  o.z_exponent_min = o.z_exponent_max = 1.2;
  const auto lo = ds::make_lattice(o, 7);
  o.z_exponent_min = o.z_exponent_max = 2.0;
  const auto hi = ds::make_lattice(o, 7);
  ASSERT_EQ(lo.atoms.size(), hi.atoms.size());
  for (std::size_t k = 0; k < lo.atoms.size(); ++k) {
    const auto& a = lo.atoms[k];
    const auto r = static_cast<Eigen::Index>(std::lround(a.position.row));
    const auto c = static_cast<Eigen::Index>(std::lround(a.position.col));
    const double expect = a.cls == 0 ? 1.0 : std::pow(a.z / 38.0, 0.8);
    EXPECT_NEAR((hi.clean(r, c) - o.background_counts) / (lo.clean(r, c) - o.background_counts), expect, 1e-3);
  }
  o.z_exponent_min = 2.5;
  EXPECT_THROW(ds::make_lattice(o, 1), std::invalid_argument);
}

TEST(Lattice, GrainBoundaryAndBadOptions) {
  ds::LatticeOptions o;
  o.rows = o.cols = 200;
  o.grain_boundary_probability = 1.0;
  const auto g = ds::make_lattice(o, 3);
  EXPECT_TRUE(g.grain_boundary);
  const auto nb = std::count_if(g.atoms.begin(), g.atoms.end(),
                                [](const ds::LatticeAtom& a) { return a.kind == ds::SiteKind::boundary; });
  EXPECT_GT(nb, 10);
  // No two atoms closer than 0.75 × spacing, even across the boundary.
  double dmin = 1e9;
  for (std::size_t i = 0; i < g.atoms.size(); ++i)
    for (std::size_t j = i + 1; j < g.atoms.size(); ++j)
      dmin = std::min(dmin, std::hypot(g.atoms[i].position.row - g.atoms[j].position.row,
                                       g.atoms[i].position.col - g.atoms[j].position.col));
  EXPECT_GT(dmin, 0.7 * g.spacing_px);

  ds::LatticeOptions bad;
  bad.rows = 8;
  EXPECT_THROW(ds::make_lattice(bad, 1), std::invalid_argument);
  bad = {};
  bad.spacing_min_px = 20;
  bad.spacing_max_px = 10;
  EXPECT_THROW(ds::make_lattice(bad, 1), std::invalid_argument);
  bad = {};
  bad.dopant_fraction = 1.5;
  EXPECT_THROW(ds::make_lattice(bad, 1), std::invalid_argument);
}

// The classical finder recovers the phantom's atoms: a check that positions are in the image frame.
TEST(Lattice, ClassicalFinderRecoversAtoms) {
  ds::LatticeOptions o;
  o.rows = o.cols = 192;
  o.dose_min = o.dose_max = 150;
  const auto g = ds::make_lattice(o, 21);
  std::vector<Position> truth;
  for (const auto& a : g.atoms) truth.push_back(a.position);
  const auto found = autostem::find_atoms_log(g.image);
  std::vector<Position> fp;
  for (const auto& a : found) fp.push_back(a.position);
  const auto sc = autostem::match_atoms(fp, truth, 0.25 * g.spacing_px);
  EXPECT_GT(sc.f1, 0.9) << "P " << sc.precision << " R " << sc.recall;
}

TEST(LatticePhantom, GroundTruthSpectraAndMask) {
  const auto a = ds::make_phantom("lattice", 4);
  const auto b = ds::make_phantom("lattice", 4);
  EXPECT_TRUE((a.survey.data == b.survey.data).all());
  ASSERT_TRUE(a.spectrum_image && a.roi_mask);
  EXPECT_TRUE(std::equal(a.spectrum_image->data().begin(), a.spectrum_image->data().end(),
                         b.spectrum_image->data().begin()));
  EXPECT_EQ(a.rows(), 128u);
  EXPECT_NE(a.source.find("lattice"), std::string::npos);
  const auto r = ds::make_phantom("lattice", 4, 64, 96);
  EXPECT_EQ(r.cols(), 96u);
  // ROI: small discs around dopants/vacancies, a few % of the field at most.
  const double in_mask = a.roi_mask->sum();
  EXPECT_GT(in_mask, 5.0);
  EXPECT_LT(in_mask, 0.08 * 128 * 128);
  // Dopant spectra differ: band_mean over the Si L2,3 band is higher on every Si atom than on any
  // C atom far from a Si atom.
  const auto sc = autostem::make_scalarizer("band_mean:" + std::to_string(ds::lattice_dopant_band_lo_eV) + ":" +
                                                std::to_string(ds::lattice_dopant_band_hi_eV),
                                            a.spectrum_image->energy());
  double min_si = 1e300, max_c = -1e300;
  std::size_t nsi = 0;
  for (const auto& p : a.points) {
    const auto r0 = static_cast<std::size_t>(std::clamp<long>(std::lround(p.position.row), 0, 127));
    const auto c0 = static_cast<std::size_t>(std::clamp<long>(std::lround(p.position.col), 0, 127));
    const double v = sc->evaluate(a.spectrum_image->spectrum(r0, c0));
    if (p.label == 1) {
      ++nsi;
      min_si = std::min(min_si, v);
    } else {
      bool near_si = false;
      for (const auto& q : a.points)
        near_si |= q.label == 1 && std::hypot(q.position.row - p.position.row, q.position.col - p.position.col) < 3;
      if (!near_si) max_c = std::max(max_c, v);
    }
  }
  ASSERT_GT(nsi, 0u);
  EXPECT_GT(min_si, 2.0 * max_c);
}


// Issue 15, microscope realism: switched on, the lattice itself (positions, classes, defects,
// distortions) stays what it was — the realism draws from its own stream — while atoms in vacuum
// disappear and atoms under contamination move to `covered`, never listed as atoms.
TEST(Lattice, RealismKeepsTheLatticeAndHidesCoveredAtoms) {
  ds::LatticeOptions o;
  o.rows = o.cols = 192;
  const auto plain = ds::make_lattice(o, 9);
  EXPECT_EQ(plain.non_lattice.rows(), 192);
  EXPECT_EQ(plain.non_lattice.sum(), 0.0);
  EXPECT_TRUE(plain.covered.empty());
  o.contamination_probability = 1.0;
  o.vacuum_probability = 1.0;
  o.gradient_max = 0.4;
  o.line_noise_sd = 0.05;
  o.probe_tail_max = 0.2;
  std::size_t with_vacuum = 0, with_covered = 0;
  for (std::uint64_t seed : {9u, 10u, 11u, 12u}) {
    const auto ref = ds::make_lattice([&] { auto q = o; q.contamination_probability = q.vacuum_probability = 0; q.gradient_max = q.line_noise_sd = q.probe_tail_max = 0; return q; }(), seed);
    const auto s = ds::make_lattice(o, seed);
    EXPECT_EQ(s.spacing_px, ref.spacing_px);
    EXPECT_EQ(s.rotation_rad, ref.rotation_rad);
    // every listed or covered atom is an atom of the plain sample, at the same place
    std::size_t matched = 0;
    for (const auto* list : {&s.atoms, &s.covered})
      for (const auto& a : *list)
        for (const auto& b : ref.atoms)
          if (a.position == b.position && a.cls == b.cls) {
            ++matched;
            break;
          }
    EXPECT_EQ(matched, s.atoms.size() + s.covered.size());
    EXPECT_LE(s.atoms.size() + s.covered.size(), ref.atoms.size());
    with_vacuum += s.atoms.size() + s.covered.size() < ref.atoms.size();
    with_covered += !s.covered.empty();
    const auto at = [&](const ImageLike& m, const Position& p) {
      return m(std::clamp<Eigen::Index>(std::lround(p.row), 0, 191), std::clamp<Eigen::Index>(std::lround(p.col), 0, 191));
    };
    for (const auto& a : s.atoms) EXPECT_LT(at(s.contamination, a.position), 0.5);
    for (const auto& a : s.covered) {
      EXPECT_GE(at(s.contamination, a.position), 0.5);
      EXPECT_EQ(at(s.non_lattice, a.position), 1.0);
    }
    // contamination is bright: the clean image under thick contamination outshines the lattice
    const double lattice_mean = ((1.0 - s.non_lattice) * s.clean).sum() / (1.0 - s.non_lattice).sum();
    const ImageLike thick = (s.contamination > 0.9).cast<double>();
    if (thick.sum() > 100) {
      EXPECT_GT((thick * s.clean).sum() / thick.sum(), lattice_mean) << "seed " << seed;
    }
    EXPECT_TRUE((s.image >= 0).all());
  }
  EXPECT_GE(with_vacuum, 3u);
  EXPECT_GE(with_covered, 3u);
  // deterministic
  const auto a = ds::make_lattice(o, 10), b = ds::make_lattice(o, 10);
  EXPECT_TRUE((a.image == b.image).all());
  EXPECT_TRUE((a.non_lattice == b.non_lattice).all());
}

TEST(Lattice, EightBitStorageSaturatesContamination) {
  ds::LatticeOptions o;
  o.rows = o.cols = 160;
  o.contamination_probability = 1.0;
  o.contamination_level_min = 4.0;
  o.eight_bit_probability = 1.0;
  const auto s = ds::make_lattice(o, 4);
  EXPECT_TRUE((s.image == s.image.round()).all());
  EXPECT_GE(s.image.minCoeff(), 0.0);
  EXPECT_LE(s.image.maxCoeff(), 255.0);
  EXPECT_GT((s.image == 255.0).count(), 10);  // saturated contamination
  // the lattice itself is not saturated: its 99.5th percentile is mapped to 100–250 (+ offset ≤ 40)
  std::vector<double> lattice;
  for (Eigen::Index k = 0; k < s.image.size(); ++k)
    if (s.non_lattice.data()[k] < 0.5) lattice.push_back(s.image.data()[k]);
  ASSERT_FALSE(lattice.empty());
  std::sort(lattice.begin(), lattice.end());
  EXPECT_LT(lattice[lattice.size() / 2], 200.0);
}

TEST(Lattice, RealismBadOptionsAndTestSet) {
  ds::LatticeOptions bad;
  bad.contamination_probability = 1.5;
  EXPECT_THROW(ds::make_lattice(bad, 1), std::invalid_argument);
  bad = {};
  bad.gradient_max = 1.0;
  EXPECT_THROW(ds::make_lattice(bad, 1), std::invalid_argument);
  bad = {};
  bad.contamination_radius_min = 0.0;
  EXPECT_THROW(ds::make_lattice(bad, 1), std::invalid_argument);
  bad = {};
  bad.contamination_patches_max = 0;
  EXPECT_THROW(ds::make_lattice(bad, 1), std::invalid_argument);
  bad = {};
  bad.line_noise_sd = -1.0;
  EXPECT_THROW(ds::make_lattice(bad, 1), std::invalid_argument);
  EXPECT_THROW(ds::contaminated_test_options(ds::contaminated_test_set_size), std::invalid_argument);
  // the test set: every image has contamination, the odd ones vacuum
  for (std::size_t k = 0; k < ds::contaminated_test_set_size; k += 3) {
    const auto o = ds::contaminated_test_options(k);
    EXPECT_GE(o.rows, 256u);
    EXPECT_LE(o.rows, 512u);
    const auto s = ds::make_lattice(o, ds::contaminated_test_seed + k);
    EXPECT_GT(s.contamination.maxCoeff(), 0.99) << k;
    EXPECT_GT(s.non_lattice.mean(), 0.02) << k;
    EXPECT_LT(s.non_lattice.mean(), 0.8) << k;
    EXPECT_GT(s.atoms.size(), 100u) << k;
  }
}

}  // namespace
