#pragma once
// AtomNet: an ensemble of small U-Nets that turns an atomic-resolution image into an atom
// probability map, a class per atom and an uncertainty from the spread of the ensemble — the
// ELIT recipe of atomai (Ghosh, Sumpter, Dyck, Kalinin, Ziatdinov, "Ensemble learning-iterative
// training for atom finding", npj Comput. Mater. 7, 100 (2021)), built for a 2-core CPU
// (docs/dcnn.md). Plain C++ header: LibTorch stays inside strategies/torch/src.
//
// Sampling: the network always sees the image resampled so that the nearest-neighbour atom
// spacing is AtomNetArchitecture::spacing_px pixels; callers give the spacing of their image (in
// its own pixels), e.g. from estimate_atom_spacing_px() (core/atoms.hpp). Positions returned are
// in the input image's pixel frame (pixel centres at integers).
//
// Ensemble: the N models are one network whose convolutions have groups = N (model i owns group
// i of every layer), so training and prediction of the whole ensemble are single passes.

#include <autostem/imaging/atoms.hpp>
#include <autostem/core/strategy.hpp>
#include <autostem/core/types.hpp>
#include <autostem/strategies/schema.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace autostem::strategies {

/// Shape of the ensemble and the sampling it was trained at.
struct AtomNetArchitecture {
  int ensemble = 20;                 ///< number of models N (≥ 1)
  std::vector<int> widths{8, 16, 32};///< filters per U-Net level (2 or 3 levels, each ≥ 1)
  int classes = 2;                   ///< atom classes (network outputs classes + 1 with background)
  double spacing_px = 6.0;           ///< nearest-neighbour atom spacing in network pixels (≥ 3)
  std::string kind;                  ///< what it was trained on, e.g. "graphene", "perovskite"
  std::vector<std::string> class_names;  ///< optional, one per class (e.g. "C", "Si")
};

/// One training image with its atoms (positions in the image's pixels, Atom::cls in
/// [0, classes)) and the nearest-neighbour atom spacing of the image in its own pixels (> 0).
struct AtomNetSample {
  ImageArray image;
  std::vector<Atom> atoms;
  double spacing_px = 0.0;
  /// Positions (image px) whose disc of half a spacing is left out of the loss: atoms that are
  /// neither clearly visible nor clearly hidden (e.g. at a contamination patch's soft edge).
  std::vector<Position> ignored;
};

/// Training settings. Deterministic for `seed` when threads == 1.
struct AtomNetTrainingOptions {
  std::size_t iterations = 300;   ///< Adam steps
  std::size_t batch = 4;          ///< patches per model per step
  std::size_t patch_px = 48;      ///< patch side at network sampling (multiple of 4)
  double learning_rate = 3e-3;    ///< Adam, decayed ×0.1 linearly over the run
  double label_radius = 0.22;     ///< label disk radius as a fraction of the atom spacing
  double scale_jitter = 0.15;     ///< augmentation: random ±fraction of the spacing
  double gain_min = 0.7, gain_spread = 0.6;  ///< augmentation: contrast gain of the normalised
                                  ///< patch, uniform in [gain_min, gain_min + gain_spread]
  double offset_max = 0.3;        ///< augmentation: offset of the normalised patch, uniform in ±max
  std::uint64_t seed = 1;
  int threads = 1;                ///< LibTorch intra-op threads during training
  bool verbose = false;           ///< print the loss every 50 steps to stderr
};

/// Result of a training run.
struct AtomNetTrainingReport {
  double seconds = 0.0;        ///< wall-clock training time
  double final_loss = 0.0;     ///< mean cross-entropy per model over the last 20 steps
  std::size_t iterations = 0;
};

/// Maps at the input image's resolution (rows, cols).
struct AtomNetMaps {
  ImageArray probability;              ///< ensemble mean of P(atom) ∈ [0, 1]
  ImageArray uncertainty;              ///< ensemble standard deviation of P(atom)
  std::vector<ImageArray> class_probability;  ///< per class: ensemble mean of P(class | atom)
};

/// Options of find_atoms().
struct AtomNetFindOptions {
  double threshold = 0.5;       ///< on the ensemble-mean probability
  std::size_t ensemble = 0;     ///< models to use (first k); 0 = all
  bool refine = false;          ///< refine_atoms_centroid() on the input image (off: on the
                                ///< noisy graphene images it lowered F1, docs/dcnn.md)
};

class AtomNet {
 public:
  /// A freshly initialised ensemble: model i's weights are drawn from seeds derived from seed and i (Kaiming normal,
  /// zero biases) by a generator of the model's own, never LibTorch's global one, so that models
  /// built on parallel threads are reproducible. Throws std::invalid_argument on an invalid
  /// architecture.
  AtomNet(const AtomNetArchitecture& architecture, std::uint64_t seed);
  /// Loads a model directory written by save(). Throws std::runtime_error naming the directory
  /// and the problem: missing directory or files, a manifest of another format or version, or
  /// weights whose shapes disagree with the manifest.
  static AtomNet load(const std::filesystem::path& directory);
  AtomNet(AtomNet&&) noexcept;
  AtomNet& operator=(AtomNet&&) noexcept;
  ~AtomNet();

  /// Writes manifest.json (format "autostem-atomnet", version, architecture, seeds, training
  /// notes) and weights.pt (float16) into `directory` (created). Throws std::runtime_error.
  void save(const std::filesystem::path& directory) const;

  const AtomNetArchitecture& architecture() const;
  std::uint64_t seed() const;
  /// Free-form training provenance stored in the manifest ("training" object), e.g.
  /// {"phantom": "lattice graphene", "images": "64", "seconds": "120"}.
  void set_training_notes(const std::vector<std::pair<std::string, std::string>>& notes);
  std::vector<std::pair<std::string, std::string>> training_notes() const;

  /// Trains every model of the ensemble on the samples (each model sees its own random patches,
  /// flips, 90° rotations, spacing and contrast jitter). Labels: a disk of radius
  /// label_radius × spacing around every atom, value cls + 1; background 0; pixels within half a
  /// spacing of a sample's `ignored` positions are left out; loss: class-weighted cross-entropy. Throws std::invalid_argument for no samples, an empty image, a spacing ≤ 0 or
  /// a class out of range.
  AtomNetTrainingReport train(const std::vector<AtomNetSample>& samples,
                              const AtomNetTrainingOptions& options);

  /// Ensemble maps for an image whose nearest-neighbour atom spacing is spacing_px (its pixels).
  /// `ensemble` = number of models used (first k; 0 = all). Throws std::invalid_argument for an
  /// empty image, non-finite values, spacing_px ≤ 0 or an image that is smaller than 8 network
  /// pixels after resampling.
  AtomNetMaps predict(const ImageArray& image, double spacing_px, std::size_t ensemble = 0) const;

  /// Atoms of an image: predict(), then atoms_from_probability() on the ensemble mean (core),
  /// with class = argmax of the mean class probabilities at the atom and uncertainty = the
  /// ensemble standard deviation of P(atom) there; then (options.refine) refine_atoms_centroid()
  /// on the input image. Positions in the input's pixels. When `maps` is not null it receives
  /// the maps of this same pass as predict() gives them (no second network pass).
  std::vector<Atom> find_atoms(const ImageArray& image, double spacing_px,
                               const AtomNetFindOptions& options = {}, AtomNetMaps* maps = nullptr) const;

  /// ELIT iterative training on a target image (Ghosh et al. 2021): predict, keep the atoms the
  /// ensemble is confident about (probability ≥ min_probability and uncertainty ≤
  /// max_uncertainty) as labels, fine-tune on the target for `options.iterations` steps, repeat
  /// `rounds` times. Unconfident regions are kept as training area only where no uncertain
  /// component lies (pixels near an uncertain atom are masked out of the loss). Returns the number
  /// of confident atoms of the last round. Changes this ensemble's weights.
  std::size_t elit_finetune(const ImageArray& image, double spacing_px, std::size_t rounds,
                            const AtomNetTrainingOptions& options, double min_probability = 0.8,
                            double max_uncertainty = 0.15);

 private:
  struct Impl;
  explicit AtomNet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The directory of the shipped models of a lattice kind ("graphene" or "perovskite"):
/// $AUTOSTEM_MODELS/atoms/<kind> when that variable is set, otherwise <source>/models/atoms/<kind>.
std::filesystem::path default_atomnet_directory(const std::string& kind);

/// Sub-pixel refinement (as atomap's centre-of-mass refinement, Nord et al. 2017): each atom moves
/// to the intensity-weighted centroid of the image smoothed by σ = max(0.5, 0.1 × spacing) px,
/// minus the disc minimum, in a disc of radius max(1.5, 0.25 × spacing) px; three iterations; a
/// total shift above 0.5 × spacing keeps the original position. image: (rows, cols), bright atoms;
/// positions in its pixels. Throws std::invalid_argument on an empty image or spacing_px ≤ 0.
void refine_atoms_centroid(const ImageArray& image, std::vector<Atom>& atoms, double spacing_px);

class AtomFinder;  // strategies/atoms.hpp

/// The "dcnn" atom finder: AtomNet::load(model) once, then per survey: the shared preprocessing
/// prepare_survey (strategies/atoms.hpp; mask=auto: find_lattice_region — regions that are not
/// lattice reported by regions() and given no atoms, spacing estimated on the lattice only, the
/// image normalised on the lattice; no periodicity → no atoms), optional ELIT fine-tuning of a
/// copy on the survey (elit_rounds > 0), find_atoms(). Parameters (text; defaults in brackets):
/// model [default_atomnet_directory(kind)], kind [graphene] (graphene | perovskite), ensemble [0 =
/// all], threshold [0.5], spacing_px [0 = estimate], elit_rounds [0], elit_iterations [60],
/// classify [network] (network: argmax of the ensemble's class maps; otsu: positions from the
/// network, class by split_atoms_by_intensity, 0 = bright, 1 = dim — e.g. A/B-site in HAADF),
/// denoise [auto] (bragg: the network sees bragg_filter(survey), core/bragg.hpp — it fills
/// vacancies, docs/atoms.md "Bragg filter"; auto: only where lattice_snr(survey) < auto_snr
/// [auto_bragg_snr = 0.55], and then the filtered survey gives the positions while the survey as
/// it is confirms each (its ensemble-mean P(atom) reaches threshold within 0.25 spacing) and
/// gives its class — docs/dcnn.md "denoise=auto"; none: never), border_px [0] and
/// border_spacings [0.1] (drop atoms closer to the edge than the larger of border_px px and
/// border_spacings × the spacing), max_loss [0.3], mask [auto] (auto | none: the whole image as it is, issue 9 behaviour),
/// clip_percent [0] (mask=auto: clip to the lattice's [p, 100 − p] percentiles).
/// Throws std::invalid_argument on an unknown key or bad value, std::runtime_error (from
/// AtomNet::load) for a model directory that is missing or does not match.
std::unique_ptr<AtomFinder> make_dcnn_atom_finder(const Parameters& params);
/// The dcnn finder's parameter schema, and its help text (Schema::help).
const Schema& dcnn_finder_schema();
std::string dcnn_finder_help();
/// Registers the "dcnn" atom finder and the "dcnn" strategy (AtomPlanStrategy with that finder);
/// called by register_torch_strategies().
void register_dcnn();

}  // namespace autostem::strategies
