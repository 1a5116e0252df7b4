#pragma once
// Atom finders and the atom plan strategy (issue 9; seed 001/002 §V, Fig. 3): find every atom in
// an atomic-resolution survey, then place the beam on the atoms, on the atoms of one class, on
// the defects, or on the most uncertain atoms first, along a short beam path.
//
// Finders are plug-ins behind AtomFinder, chosen by name: "log" (the classical Laplacian-of-
// Gaussian baseline of core/atoms.hpp) is built in; "dcnn" (the U-Net ensemble) is registered by
// autostem::strategies::register_torch_strategies() when LibTorch is present.
//
// The strategy registry's "atoms" entry is AtomPlanStrategy with the "log" finder ("dcnn" is the
// same with the "dcnn" finder). Its parameters are the plan's (below) plus the finder's, prefixed
// "finder." (e.g. finder.classify=otsu, finder.model=DIR).

#include <autostem/imaging/atoms.hpp>
#include <autostem/core/strategy.hpp>
#include <autostem/strategies/schema.hpp>

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace autostem::strategies {

/// Finds atoms in a survey image. Implementations are deterministic for a given survey and
/// parameters.
class AtomFinder {
 public:
  virtual ~AtomFinder() = default;
  /// Registry name, e.g. "log".
  virtual std::string name() const = 0;
  /// Parameters in effect (after defaults), for provenance.
  virtual Parameters parameters() const = 0;
  /// Atoms in survey.data (rows, cols), positions in its pixel frame. An image without atoms
  /// gives an empty list (not an error). Throws std::invalid_argument on an empty image or
  /// non-finite values.
  virtual std::vector<Atom> find(const Image& survey) = 0;
  /// What the last find() decided that the user should know, one sentence each (e.g. an option
  /// rejected because it lost atoms, issue 15); empty when nothing needs saying.
  virtual std::vector<std::string> notes() const { return {}; }
  /// The regions of the last find() (find_lattice_region, core/atoms.hpp; issue 15): a (rows,
  /// cols) RegionKind map of survey.data; no atom is reported on a pixel that is not lattice.
  /// Empty when the finder did not compute one (mask=none).
  virtual RegionMap regions() const { return {}; }
};

/// Builds a finder from its parameters; throws std::invalid_argument on bad parameters.
using AtomFinderFactory = std::function<std::unique_ptr<AtomFinder>(const Parameters&)>;

/// Adds (or replaces) the finder schema.name() in the registry; thread-safe, but call it at
/// start-up. Throws std::invalid_argument on an empty name or factory.
void register_atom_finder(Schema schema, AtomFinderFactory make);
/// As above for a finder without a schema (help: one line; the factory checks the parameters).
void register_atom_finder(const std::string& name, const std::string& help, AtomFinderFactory make);

/// The schema of a registered finder. Throws std::invalid_argument for an unknown name.
Schema atom_finder_schema(const std::string& name);

/// Builds a finder by name. Throws std::invalid_argument for an unknown name (listing the known
/// ones) or bad parameters.
std::unique_ptr<AtomFinder> make_atom_finder(const std::string& name, const Parameters& params = {});

/// Names of the registered finders, sorted ("log" always; "dcnn" with LibTorch).
std::vector<std::string> atom_finder_names();

/// Description of a finder and its parameters from its schema (empty for an unknown name).
std::string atom_finder_help(const std::string& name);

/// The built-in classical finder: find_atoms_log, then optional intensity classes (none; outlier:
/// class 1 for atoms brighter than median + outlier_z × 1.4826 × MAD of the atom intensities, a
/// heavy dopant such as Si in graphene, Z 14 vs 6; otsu: 0 = bright, 1 = dim, e.g. perovskite A-
/// and B-sites). Parameters: schema(), docs/strategies.md (the finder.KEY rows of "atoms").
/// Intensities are the survey smoothed by σ = max(1, 0.15 × spacing) px, sampled at each atom
/// (always the unfiltered survey: the Bragg filter averages a dopant's contrast away).
class LogAtomFinder final : public AtomFinder {
 public:
  explicit LogAtomFinder(const Parameters& params = {});
  static const Schema& schema();
  std::string name() const override { return "log"; }
  Parameters parameters() const override;
  std::vector<Atom> find(const Image& survey) override;
  RegionMap regions() const override { return regions_; }

 private:
  Parameters provenance_;
  LogPeakOptions options_;
  std::string classify_ = "outlier";
  double outlier_z_ = 5.0;
  std::string denoise_;
  double border_px_ = 0.0;
  std::string mask_ = "auto";
  double clip_percent_ = 0.0;
  RegionMap regions_;
};

/// Shared preprocessing of the atom finders (issue 9): parses the "denoise" parameter value
/// ("none", "bragg", "bragg-periodic" or "auto"); throws std::invalid_argument naming `who` on any
/// other value.
std::string parse_denoise(const std::string& value, const std::string& who);

/// denoise=auto (issue 15): the Bragg filter is applied when the image's lattice_snr
/// (imaging/bragg.hpp: the lattice's r.m.s. contrast over the white shot noise's per pixel, a
/// unit-free measure) is below this value. Chosen on phantoms only — the validation seeds of the
/// contaminated set (800000+, high dose: the filter must stay off there) and of the low-dose set
/// (datasets::low_dose_validation_seed: the filter should be on) — never on the labelled real
/// images (docs/dcnn.md "denoise=auto").
inline constexpr double auto_bragg_snr = 0.55;

/// The denoise method that `method` stands for on this image: "auto" → "bragg" when
/// lattice_snr(image, spacing_px) < threshold (default auto_bragg_snr), else "none"; any other method is returned as
/// it is. image: (rows, cols), any units; spacing_px > 1 (needed for auto only). When `snr` is not
/// null it receives the measured lattice_snr (auto) or NaN (other methods). Throws
/// std::invalid_argument on an unknown method or (auto) as lattice_snr.
std::string resolve_denoise(const ImageArray& image, const std::string& method, double spacing_px,
                            double* snr = nullptr, double threshold = auto_bragg_snr);

/// The survey image (rows, cols) as the finder should see it: unchanged for "none", the Bragg
/// filter (core/bragg.hpp; spacing_px > 0 is the atom spacing, 0 = estimate) for "bragg", either
/// of them for "auto" (resolve_denoise; needs spacing_px > 1).
/// Throws std::invalid_argument on an unknown method; std::runtime_error when the image shows no
/// lattice periodicity (from estimate_atom_spacing_px).
ImageArray denoise_survey(const ImageArray& image, const std::string& method, double spacing_px);

/// The survey as a finder sees it after the shared robust preprocessing (issue 15).
struct PreparedSurvey {
  ImageArray image;     ///< (rows, cols): the survey (mask=none) or LatticeRegion::image (auto)
  double spacing_px = 0;///< atom spacing (px): given, or estimated (on the lattice only for
                        ///< auto); 0 = no lattice periodicity (the finder returns no atoms)
  RegionMap regions;    ///< (rows, cols) RegionKind map for auto; empty for none
};

/// Shared preprocessing of the finders: mask "auto" runs find_lattice_region(image, {spacing_px,
/// clip_percent}) — non-lattice regions detected, the spacing estimated on the lattice only, the
/// image robustly normalised and its non-lattice pixels set to the lattice mean; "none" keeps
/// the image and estimates the spacing on all of it (estimate_atom_spacing_px; issue 9
/// behaviour). spacing_px > 0: that spacing (px) is used. Throws std::invalid_argument on an
/// unknown mask value or bad input (from find_lattice_region).
PreparedSurvey prepare_survey(const ImageArray& image, const std::string& mask, double spacing_px,
                              double clip_percent = 0.0);

/// Removes the atoms that lie on a non-lattice pixel of regions (in_non_lattice_region); an empty
/// map removes none.
void drop_atoms_in_regions(std::vector<Atom>& atoms, const RegionMap& regions);

/// Removes atoms closer than border_px (px, ≥ 0; 0 keeps all) to the edge of a (rows, cols) image.
void drop_border_atoms(std::vector<Atom>& atoms, std::size_t rows, std::size_t cols, double border_px);

/// The plan strategy: survey → finder → atoms → plan, made once in begin(); propose() hands the
/// plan out in order; observe() ignores the signals.
/// Parameters: atom_plan_schema(), docs/strategies.md. target=defects: atoms whose neighbour count
/// (within neighbour_factor × the median nearest-neighbour distance) differs from the most common
/// count — only atoms at least 1.5 spacings from the border are judged, the border cuts
/// neighbours off — or whose class is a rare one (< 20 % of the atoms); plus vacancy sites: an
/// atom missing one neighbour votes for the site −Σ(its bond vectors) (the bonds of a honeycomb,
/// square or hexagonal lattice sum to zero); votes within 0.5 spacing merge, and a site with ≥ 2
/// votes that is not on a found atom is planned. target=uncertain: every atom, most uncertain
/// first (uncertainty descending, then probability ascending) — not path-ordered.
/// When more atoms qualify than the caps allow, the most probable are kept (ties: raster order).
/// No atoms found → an empty plan: the first propose() returns nothing, the run ends cleanly,
/// and status() says "no atoms found". Deterministic (no random stream).
class AtomPlanStrategy final : public Strategy {
 public:
  /// name: the registry name ("atoms", "dcnn"); params: the plan's parameters (keys prefixed
  /// "finder." are accepted and ignored here: the finder is already built); finder: not null.
  /// Throws std::invalid_argument on an unknown key, a bad value or a null finder.
  AtomPlanStrategy(std::string name, const Parameters& params, std::unique_ptr<AtomFinder> finder);

  std::string name() const override { return name_; }
  /// The plan's parameters plus the finder's, prefixed "finder.".
  Parameters parameters() const override;
  /// Runs the finder on survey.image and plans. Throws std::invalid_argument if the survey is
  /// empty or holds non-finite values (from the finder).
  void begin(const Survey& survey, const StrategyContext& context) override;
  std::vector<Position> propose(std::size_t max_points) override;
  void observe(std::span<const Measurement>) override {}

  /// Atoms found by the last begin().
  const std::vector<Atom>& atoms() const { return atoms_; }
  /// The planned positions (survey pixel frame), in beam order.
  const std::vector<Position>& plan() const { return plan_; }
  /// One line about the last begin(): "N atoms found, M planned (target …)" or "no atoms found".
  const std::string& status() const { return status_; }
  /// Median nearest-neighbour distance of the atoms found (px), 0 with fewer than 2 atoms.
  double spacing_px() const { return spacing_px_; }

 private:
  std::string name_;
  std::unique_ptr<AtomFinder> finder_;
  Parameters provenance_;
  std::string target_ = "all";
  int target_class_ = 0;
  std::size_t max_points_ = 0;
  double fraction_ = 0.0;
  double neighbour_factor_ = 1.3;
  std::size_t two_opt_passes_ = 50;
  std::vector<Atom> atoms_;
  std::vector<Position> plan_;
  std::size_t next_ = 0;
  std::string status_;
  double spacing_px_ = 0.0;
};

/// The plan's parameter schema for the strategy strategy_name (summary: its one-line description);
/// finder (may be empty) gives the finder's schema, shown as the finder.KEY rows.
Schema atom_plan_schema(const std::string& strategy_name, const std::string& summary,
                        std::function<const Schema&()> finder = {});

/// Keys of params that start with "finder.", with the prefix removed.
Parameters finder_parameters(const Parameters& params);

/// AtomPlanStrategy named strategy_name with the finder finder_name built from the "finder."
/// parameters of params. Throws std::invalid_argument as make_atom_finder and the constructor.
std::unique_ptr<Strategy> make_atom_plan_strategy(const std::string& strategy_name, const std::string& finder_name,
                                                  const Parameters& params);

/// Indices of the atoms that AtomPlanStrategy's target=defects selects (see there), and in
/// vacancy_sites the vacancy sites voted for by atoms missing one neighbour. spacing_px ≤ 0: the median
/// nearest-neighbour distance of the atoms. rows, cols: the field (for the border rule).
/// regions (optional, (rows, cols) RegionKind map): atoms within 1 spacing of a non-lattice pixel
/// are not judged, neither by their neighbour count (cut off by contamination or vacuum, issue 15)
/// nor by a rare class (a bright halo); no vacancy site is planned within 0.5 spacing of one.
std::vector<std::size_t> defect_atoms(std::span<const Atom> atoms, std::size_t rows, std::size_t cols,
                                      double neighbour_factor, double spacing_px,
                                      std::vector<Position>* vacancy_sites = nullptr,
                                      const RegionMap* regions = nullptr);

}  // namespace autostem::strategies
