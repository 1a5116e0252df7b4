// AtomNet: the ensemble U-Net of atomnet.hpp (LibTorch). Design notes in docs/dcnn.md.
#include <autostem/strategies/atomnet.hpp>

#include <autostem/core/random.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>

namespace autostem::strategies {

namespace {

constexpr const char* kFormat = "autostem-atomnet";
constexpr int kVersion = 1;

// ---------------------------------------------------------------------------------------------
// The grouped U-Net: N independent models as one network (every convolution has groups = N).
// Per model: encoder levels (conv3-ReLU-conv3-ReLU, 2×2 max-pool between levels), decoder with
// nearest ×2 upsampling, conv3, additive skip (LinkNet-style, so the group layout survives without
// a channel shuffle), conv3; head conv1 to classes + 1 logits.
struct GroupedUNetImpl : torch::nn::Module {
  GroupedUNetImpl(int n, std::vector<int> w, int classes) : n_(n), widths_(std::move(w)), classes_(classes) {
    const auto conv = [&](int in, int out, int k) {
      return torch::nn::Conv2d(torch::nn::Conv2dOptions(in * n_, out * n_, k).padding(k / 2).groups(n_));
    };
    const int levels = static_cast<int>(widths_.size());
    int in = 1;
    for (int l = 0; l < levels; ++l) {
      enc_a_.push_back(register_module("enc" + std::to_string(l) + "a", conv(in, widths_[l], 3)));
      enc_b_.push_back(register_module("enc" + std::to_string(l) + "b", conv(widths_[l], widths_[l], 3)));
      in = widths_[l];
    }
    for (int l = levels - 2; l >= 0; --l) {
      dec_a_.push_back(register_module("dec" + std::to_string(l) + "a", conv(widths_[l + 1], widths_[l], 3)));
      dec_b_.push_back(register_module("dec" + std::to_string(l) + "b", conv(widths_[l], widths_[l], 3)));
    }
    head_ = register_module("head", conv(widths_[0], classes_ + 1, 1));
  }

  // x: (B, N, H, W) with H, W divisible by 2^(levels-1) → logits (B, N·(classes+1), H, W).
  torch::Tensor forward(torch::Tensor x) {
    const int levels = static_cast<int>(widths_.size());
    std::vector<torch::Tensor> skips;
    for (int l = 0; l < levels; ++l) {
      if (l > 0) x = torch::max_pool2d(x, 2);
      x = torch::relu(enc_a_[l]->forward(x));
      x = torch::relu(enc_b_[l]->forward(x));
      skips.push_back(x);
    }
    for (int i = 0, l = levels - 2; l >= 0; ++i, --l) {
      x = torch::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2});
      x = torch::relu(dec_a_[i]->forward(x)) + skips[l];
      x = torch::relu(dec_b_[i]->forward(x));
    }
    return head_->forward(x);
  }

  std::vector<torch::nn::Conv2d> all_convs() const {
    std::vector<torch::nn::Conv2d> c(enc_a_.begin(), enc_a_.end());
    for (std::size_t l = 0; l < enc_b_.size(); ++l) c.push_back(enc_b_[l]);
    c.insert(c.end(), dec_a_.begin(), dec_a_.end());
    c.insert(c.end(), dec_b_.begin(), dec_b_.end());
    c.push_back(head_);
    return c;
  }

  int n_;
  std::vector<int> widths_;
  int classes_;
  std::vector<torch::nn::Conv2d> enc_a_, enc_b_, dec_a_, dec_b_;
  torch::nn::Conv2d head_{nullptr};
};
TORCH_MODULE(GroupedUNet);

// Model i of a grouped conv owns output rows [i·out, (i+1)·out) of weight and bias.
void init_model_slice(const torch::nn::Conv2d& conv, int n, int model, std::uint64_t seed) {
  torch::NoGradGuard guard;
  const auto out = conv->weight.size(0) / n;
  const auto fan_in = conv->weight.size(1) * conv->weight.size(2) * conv->weight.size(3);
  // A generator of our own, seeded as torch::manual_seed(seed) would seed the global one (same
  // numbers), so that models built on parallel threads do not share LibTorch's global state.
  const at::Generator gen = at::detail::createCPUGenerator(seed);
  auto w = conv->weight.narrow(0, model * out, out);
  w.copy_(torch::randn(w.sizes(), gen) * std::sqrt(2.0 / static_cast<double>(fan_in)));  // Kaiming normal (He 2015)
  conv->bias.narrow(0, model * out, out).zero_();
}

void validate(const AtomNetArchitecture& a) {
  if (a.ensemble < 1) throw std::invalid_argument("AtomNet: ensemble must be >= 1");
  if (a.widths.size() < 2 || a.widths.size() > 4)
    throw std::invalid_argument("AtomNet: widths must have 2 to 4 levels");
  for (int w : a.widths)
    if (w < 1) throw std::invalid_argument("AtomNet: every width must be >= 1");
  if (a.classes < 1) throw std::invalid_argument("AtomNet: classes must be >= 1");
  if (!(a.spacing_px >= 3.0)) throw std::invalid_argument("AtomNet: spacing_px must be >= 3");
  if (!a.class_names.empty() && static_cast<int>(a.class_names.size()) != a.classes)
    throw std::invalid_argument("AtomNet: class_names must have one name per class");
}

// --- image preparation -----------------------------------------------------------------------

torch::Tensor to_tensor(const ImageArray& image) {
  auto t = torch::empty({image.rows(), image.cols()}, torch::kFloat32);
  auto* p = t.data_ptr<float>();
  for (Eigen::Index i = 0; i < image.size(); ++i) p[i] = static_cast<float>(image.data()[i]);
  return t;
}

ImageArray to_image(const torch::Tensor& t2d) {
  auto c = t2d.to(torch::kFloat64).contiguous();
  ImageArray out(c.size(0), c.size(1));
  std::copy(c.data_ptr<double>(), c.data_ptr<double>() + c.numel(), out.data());
  return out;
}

void check_image(const ImageArray& image, const char* what) {
  if (image.size() == 0) throw std::invalid_argument(std::string(what) + ": the image is empty");
  if (!image.isFinite().all())
    throw std::invalid_argument(std::string(what) + ": the image has NaN or infinite values");
}

// Separable Gaussian blur of (1, 1, H, W), reflect padding; sigma in pixels.
torch::Tensor gaussian_blur(torch::Tensor x, double sigma) {
  if (sigma < 0.3) return x;
  int radius = static_cast<int>(std::ceil(3.0 * sigma));
  radius = std::min<int>(radius, static_cast<int>(std::min(x.size(2), x.size(3))) - 1);
  if (radius < 1) return x;
  auto k = torch::arange(-radius, radius + 1, torch::kFloat32);
  k = torch::exp(-0.5 * k * k / static_cast<float>(sigma * sigma));
  k = k / k.sum();
  namespace F = torch::nn::functional;
  x = F::pad(x, F::PadFuncOptions({radius, radius, 0, 0}).mode(torch::kReflect));
  x = torch::conv2d(x, k.view({1, 1, 1, -1}));
  x = F::pad(x, F::PadFuncOptions({0, 0, radius, radius}).mode(torch::kReflect));
  x = torch::conv2d(x, k.view({1, 1, -1, 1}));
  return x;
}

// The image at network sampling: anti-alias blur, bilinear resampling by `factor` (output size
// round(n·factor), align_corners = false), normalised to zero mean and unit standard deviation.
// A position p (input pixels) maps to (p + 0.5)·out/in − 0.5 per axis.
struct Resampled {
  torch::Tensor image;  // (h, w) float
  double scale_row = 1, scale_col = 1;  // out/in
};

Resampled resample(const ImageArray& image, double factor) {
  auto x = to_tensor(image).view({1, 1, image.rows(), image.cols()});
  const auto h = std::max<std::int64_t>(1, std::llround(static_cast<double>(image.rows()) * factor));
  const auto w = std::max<std::int64_t>(1, std::llround(static_cast<double>(image.cols()) * factor));
  if (factor < 1.0) x = gaussian_blur(x, 0.5 / factor);  // σ ≈ half the new pixel
  if (h != image.rows() || w != image.cols()) {
    namespace F = torch::nn::functional;
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<std::int64_t>{h, w})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  }
  x = x.view({h, w});
  const auto mean = x.mean();
  const auto sd = x.std(/*unbiased=*/false).clamp_min(1e-12);
  Resampled r;
  r.image = ((x - mean) / sd).contiguous();
  r.scale_row = static_cast<double>(h) / static_cast<double>(image.rows());
  r.scale_col = static_cast<double>(w) / static_cast<double>(image.cols());
  return r;
}

// Label map (h, w) int64: 0 background, cls + 1 inside a disk of `radius` net pixels around
// every atom; -100 (ignored by the loss) inside `ignore_radius` of every ignored position.
torch::Tensor render_labels(std::int64_t h, std::int64_t w, const std::vector<Atom>& atoms,
                            const std::vector<Position>& ignored, const Resampled& r,
                            double radius, double ignore_radius, int classes) {
  auto labels = torch::zeros({h, w}, torch::kInt64);
  auto* L = labels.data_ptr<std::int64_t>();
  const auto paint = [&](const Position& p, double rad, std::int64_t value) {
    const double pr = (p.row + 0.5) * r.scale_row - 0.5;
    const double pc = (p.col + 0.5) * r.scale_col - 0.5;
    const auto r0 = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::floor(pr - rad)));
    const auto r1 = std::min<std::int64_t>(h - 1, static_cast<std::int64_t>(std::ceil(pr + rad)));
    const auto c0 = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::floor(pc - rad)));
    const auto c1 = std::min<std::int64_t>(w - 1, static_cast<std::int64_t>(std::ceil(pc + rad)));
    for (auto i = r0; i <= r1; ++i)
      for (auto j = c0; j <= c1; ++j) {
        const double d2 = (i - pr) * (i - pr) + (j - pc) * (j - pc);
        if (d2 <= rad * rad) L[i * w + j] = value;
      }
  };
  for (const auto& p : ignored) paint(p, ignore_radius, -100);
  for (const auto& a : atoms) {
    if (a.cls < 0 || a.cls >= classes)
      throw std::invalid_argument("AtomNet::train: atom class " + std::to_string(a.cls) +
                                  " outside [0, " + std::to_string(classes) + ")");
    paint(a.position, radius, a.cls + 1);
  }
  return labels;
}

struct Prepared {
  torch::Tensor image;   // (h, w) float, normalised
  torch::Tensor labels;  // (h, w) int64
};

using random::splitmix64;
/// Uniform on [0, 1) from the top 53 bits of one splitmix64 step (the training stream).
double uniform(std::uint64_t& s) { return static_cast<double>(splitmix64(s) >> 11) * 0x1.0p-53; }

}  // namespace

// ---------------------------------------------------------------------------------------------

struct AtomNet::Impl {
  AtomNetArchitecture arch;
  std::uint64_t seed = 0;
  std::vector<std::pair<std::string, std::string>> notes;
  GroupedUNet net{nullptr};
  mutable std::mutex subset_mutex;
  mutable std::map<int, GroupedUNet> subsets;  // first-k-models networks for predict(ensemble=k)

  GroupedUNet make(int n) const { return GroupedUNet(n, arch.widths, arch.classes); }

  // The network with the first k models (shares nothing with net; rebuilt after training).
  GroupedUNet subset(int k) const {
    if (k <= 0 || k >= arch.ensemble) return net;
    std::lock_guard<std::mutex> lock(subset_mutex);
    if (auto it = subsets.find(k); it != subsets.end()) return it->second;
    auto sub = make(k);
    torch::NoGradGuard guard;
    const auto src = net->all_convs();
    const auto dst = sub->all_convs();
    for (std::size_t i = 0; i < src.size(); ++i) {
      dst[i]->weight.copy_(src[i]->weight.narrow(0, 0, dst[i]->weight.size(0)));
      dst[i]->bias.copy_(src[i]->bias.narrow(0, 0, dst[i]->bias.size(0)));
    }
    sub->eval();
    subsets.emplace(k, sub);
    return sub;
  }

  int divisor() const { return 1 << (static_cast<int>(arch.widths.size()) - 1); }

  static bool channels_last() {
    const char* e = std::getenv("AUTOSTEM_ATOMNET_CHANNELS_LAST");
    return !(e && std::string(e) == "0");
  }
  // One conversion to channels-last per network object (the networks live as long as the Impl).
  mutable std::mutex cl_mutex;
  mutable std::map<const void*, std::unique_ptr<std::once_flag>> cl_flags;
  std::once_flag& model_cl_once(const GroupedUNet& m) const {
    std::lock_guard<std::mutex> lock(cl_mutex);
    auto& f = cl_flags[m.get()];
    if (!f) f = std::make_unique<std::once_flag>();
    return *f;
  }

  // Per-model softmax maps at network sampling for a normalised (h, w) image.
  // Returns probs (k, classes + 1, h, w).
  torch::Tensor forward_maps(const torch::Tensor& img, int k) const {
    auto model = subset(k);
    const int n = static_cast<int>(model->n_);
    const auto h = img.size(0), w = img.size(1);
    const int d = divisor();
    const auto ph = (d - h % d) % d, pw = (d - w % d) % d;
    auto x = img.view({1, 1, h, w});
    namespace F = torch::nn::functional;
    if (ph || pw) {
      if (ph < h && pw < w)
        x = F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReflect));
      else
        x = F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
    }
    x = x.expand({1, n, x.size(2), x.size(3)}).contiguous();
    if (channels_last()) {
      // NHWC lets oneDNN run the grouped convolutions without reorders (DESIGN.md §11: 2.8 s vs
      // 4.9 s for one 16-32-64 U-Net); AUTOSTEM_ATOMNET_CHANNELS_LAST=0 turns it off.
      std::call_once(model_cl_once(model), [&] {
        // Outside inference mode (the callers hold an InferenceMode guard): the converted
        // parameters must stay normal tensors, or a later fine-tuning (ELIT) cannot train them.
        c10::InferenceMode normal(false);
        torch::NoGradGuard g;
        for (auto& p : model->parameters())
          if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
      });
      x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    }
    auto logits = model->forward(x).contiguous();  // (1, n·(C+1), H, W)
    logits = logits.view({n, arch.classes + 1, logits.size(2), logits.size(3)});
    logits = logits.narrow(2, 0, h).narrow(3, 0, w);
    return torch::softmax(logits, 1);
  }

  Prepared prepare(const ImageArray& image, const std::vector<Atom>& atoms,
                   const std::vector<Position>& ignored, double spacing_px, double jitter,
                   double label_radius) const {
    // jitter: relative change of the spacing the network sees (augmentation)
    const double target = arch.spacing_px * (1.0 + jitter);
    const auto r = resample(image, target / spacing_px);
    Prepared p;
    p.image = r.image;
    p.labels = render_labels(r.image.size(0), r.image.size(1), atoms, ignored, r,
                             label_radius * target, 0.5 * target, arch.classes);
    return p;
  }

  AtomNetTrainingReport fit(const std::vector<Prepared>& data, const AtomNetTrainingOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    const int old_threads = at::get_num_threads();
    at::set_num_threads(std::max(1, o.threads));
    const int n = arch.ensemble;
    const int C1 = arch.classes + 1;
    const auto P = static_cast<std::int64_t>(o.patch_px);
    if (P % divisor() != 0 || P < 8)
      throw std::invalid_argument("AtomNet::train: patch_px must be a multiple of " +
                                  std::to_string(divisor()) + " and >= 8");
    const auto B = static_cast<std::int64_t>(std::max<std::size_t>(1, o.batch));
    // Class weights from label frequencies: (f_bg / f_c)^½, clipped to [1, 25].
    std::vector<double> counts(C1, 1.0);
    for (const auto& d : data)
      for (int c = 0; c < C1; ++c) counts[c] += d.labels.eq(c).sum().item<double>();
    std::vector<float> wts(C1, 1.0f);
    for (int c = 1; c < C1; ++c)
      wts[c] = static_cast<float>(std::clamp(std::sqrt(counts[0] / counts[c]), 1.0, 25.0));
    const auto class_weight = torch::tensor(wts);

    net->train();
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.learning_rate));
    std::uint64_t rng = o.seed * 0x2545F4914F6CDD1DULL + 17;
    std::vector<double> recent;
    auto input = torch::empty({B, n, P, P}, torch::kFloat32);
    auto target = torch::empty({B, n, P, P}, torch::kInt64);
    for (std::size_t it = 0; it < o.iterations; ++it) {
      const double frac = o.iterations > 1 ? static_cast<double>(it) / static_cast<double>(o.iterations - 1) : 0.0;
      for (auto& g : opt.param_groups())
        static_cast<torch::optim::AdamOptions&>(g.options()).lr(o.learning_rate * (1.0 - 0.9 * frac));
      {
        torch::NoGradGuard guard;
        for (std::int64_t b = 0; b < B; ++b)
          for (int m = 0; m < n; ++m) {
            const auto& d = data[static_cast<std::size_t>(uniform(rng) * static_cast<double>(data.size()))];
            const auto h = d.image.size(0), w = d.image.size(1);
            auto img = d.image, lab = d.labels;
            if (h < P || w < P) {  // pad small images (label: ignored)
              namespace F = torch::nn::functional;
              const auto ph = std::max<std::int64_t>(0, P - h), pw = std::max<std::int64_t>(0, P - w);
              img = F::pad(img.view({1, 1, h, w}), F::PadFuncOptions({0, pw, 0, ph})).view({h + ph, w + pw});
              lab = F::pad(lab.view({1, 1, h, w}).to(torch::kFloat32), F::PadFuncOptions({0, pw, 0, ph}).value(-100))
                        .view({h + ph, w + pw}).to(torch::kInt64);
            }
            const auto r0 = static_cast<std::int64_t>(uniform(rng) * static_cast<double>(img.size(0) - P + 1));
            const auto c0 = static_cast<std::int64_t>(uniform(rng) * static_cast<double>(img.size(1) - P + 1));
            auto pi = img.narrow(0, r0, P).narrow(1, c0, P);
            auto pl = lab.narrow(0, r0, P).narrow(1, c0, P);
            const int rot = static_cast<int>(uniform(rng) * 4.0);
            if (rot) { pi = torch::rot90(pi, rot, {0, 1}); pl = torch::rot90(pl, rot, {0, 1}); }
            if (uniform(rng) < 0.5) { pi = pi.flip({1}); pl = pl.flip({1}); }
            // (written so that the defaults give exactly 0.7 + 0.6 u and 0.6 u − 0.3, as before)
            const double gain = o.gain_min + o.gain_spread * uniform(rng),
                         offset = 2.0 * o.offset_max * uniform(rng) - o.offset_max;
            const double noise = 0.25 * uniform(rng);
            const at::Generator noise_gen = at::detail::createCPUGenerator(splitmix64(rng));
            input[b][m].copy_(pi * gain + offset + noise * torch::randn({P, P}, noise_gen));
            target[b][m].copy_(pl);
          }
      }
      opt.zero_grad();
      auto logits = net->forward(input).view({B, n, C1, P, P}).permute({0, 2, 1, 3, 4});
      auto loss = torch::nn::functional::cross_entropy(
          logits, target, torch::nn::functional::CrossEntropyFuncOptions().weight(class_weight).ignore_index(-100));
      loss.backward();
      opt.step();
      recent.push_back(loss.item<double>());
      if (recent.size() > 20) recent.erase(recent.begin());
      if (o.verbose && (it % 50 == 0 || it + 1 == o.iterations)) {
        std::fprintf(stderr, "atomnet: step %zu/%zu loss %.4f (%.0f s)\n", it + 1, o.iterations, recent.back(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    }
    net->eval();
    {
      std::lock_guard<std::mutex> lock(subset_mutex);
      subsets.clear();
    }
    at::set_num_threads(old_threads);
    AtomNetTrainingReport rep;
    rep.iterations = o.iterations;
    for (double v : recent) rep.final_loss += v / static_cast<double>(recent.size());
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
  }

  // Ensemble maps at network sampling: mean P(atom), std P(atom), mean class probs (C, h, w).
  struct NetMaps {
    torch::Tensor mean, sd, cls;
    Resampled r;
  };
  NetMaps net_maps(const ImageArray& image, double spacing_px, std::size_t ensemble, const char* what) const {
    check_image(image, what);
    if (!(spacing_px > 0.0) || !std::isfinite(spacing_px))
      throw std::invalid_argument(std::string(what) + ": the atom spacing must be a positive number of pixels");
    if (ensemble > static_cast<std::size_t>(arch.ensemble))
      throw std::invalid_argument(std::string(what) + ": asked for " + std::to_string(ensemble) +
                                  " models but the ensemble has " + std::to_string(arch.ensemble));
    torch::InferenceMode guard;
    NetMaps m;
    m.r = resample(image, arch.spacing_px / spacing_px);
    if (m.r.image.size(0) < 8 || m.r.image.size(1) < 8)
      throw std::invalid_argument(std::string(what) + ": the image is smaller than 8 network pixels after "
                                  "resampling to the trained atom spacing (is the spacing right?)");
    const int k = ensemble == 0 ? arch.ensemble : static_cast<int>(ensemble);
    auto probs = forward_maps(m.r.image, k);             // (k, C+1, h, w)
    auto atom = 1.0 - probs.select(1, 0);                // (k, h, w)
    m.mean = atom.mean(0);
    m.sd = k > 1 ? atom.std(0, /*unbiased=*/false) : torch::zeros_like(m.mean);
    auto cls = probs.narrow(1, 1, arch.classes).mean(0);  // (C, h, w)
    m.cls = cls / cls.sum(0, true).clamp_min(1e-12);
    return m;
  }
};

AtomNet::AtomNet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AtomNet::AtomNet(const AtomNetArchitecture& architecture, std::uint64_t seed) : impl_(std::make_unique<Impl>()) {
  validate(architecture);
  impl_->arch = architecture;
  impl_->seed = seed;
  impl_->net = impl_->make(architecture.ensemble);
  for (auto& conv : impl_->net->all_convs())
    for (int m = 0; m < architecture.ensemble; ++m)
      init_model_slice(conv, architecture.ensemble, m, seed + static_cast<std::uint64_t>(m) * 7919ULL + 1);
  impl_->net->eval();
}

AtomNet::AtomNet(AtomNet&&) noexcept = default;
AtomNet& AtomNet::operator=(AtomNet&&) noexcept = default;
AtomNet::~AtomNet() = default;

const AtomNetArchitecture& AtomNet::architecture() const { return impl_->arch; }
std::uint64_t AtomNet::seed() const { return impl_->seed; }
void AtomNet::set_training_notes(const std::vector<std::pair<std::string, std::string>>& notes) {
  impl_->notes = notes;
}
std::vector<std::pair<std::string, std::string>> AtomNet::training_notes() const { return impl_->notes; }

void AtomNet::save(const std::filesystem::path& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("AtomNet::save: cannot create " + dir.string() + ": " + ec.message());
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["ensemble"] = impl_->arch.ensemble;
  j["widths"] = impl_->arch.widths;
  j["classes"] = impl_->arch.classes;
  j["class_names"] = impl_->arch.class_names;
  j["spacing_px"] = impl_->arch.spacing_px;
  j["kind"] = impl_->arch.kind;
  j["seed"] = impl_->seed;
  j["weights"] = "weights.pt";
  j["weights_dtype"] = "float16";
  auto notes = nlohmann::ordered_json::object();
  for (const auto& [k, v] : impl_->notes) notes[k] = v;
  j["training"] = notes;
  {
    std::ofstream out(dir / "manifest.json");
    out << j.dump(2) << "\n";
    if (!out) throw std::runtime_error("AtomNet::save: cannot write " + (dir / "manifest.json").string());
  }
  std::vector<torch::Tensor> tensors;
  for (const auto& p : impl_->net->parameters()) tensors.push_back(p.detach().to(torch::kFloat16));
  torch::save(tensors, (dir / "weights.pt").string());
}

AtomNet AtomNet::load(const std::filesystem::path& dir) {
  const auto fail = [&](const std::string& why) {
    throw std::runtime_error("AtomNet model directory " + dir.string() + ": " + why);
  };
  if (!std::filesystem::is_directory(dir)) fail("does not exist or is not a directory");
  const auto manifest = dir / "manifest.json";
  if (!std::filesystem::exists(manifest)) fail("no manifest.json (train one with `autostem train-atoms --out DIR`)");
  nlohmann::json j;
  try {
    std::ifstream in(manifest);
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    fail(std::string("manifest.json is not valid JSON: ") + e.what());
  }
  if (j.value("format", "") != kFormat) fail("manifest.json is not an autostem-atomnet manifest");
  if (j.value("version", 0) != kVersion)
    fail("manifest version " + std::to_string(j.value("version", 0)) + " is not the supported version " +
         std::to_string(kVersion));
  auto impl = std::make_unique<Impl>();
  try {
    impl->arch.ensemble = j.at("ensemble").get<int>();
    impl->arch.widths = j.at("widths").get<std::vector<int>>();
    impl->arch.classes = j.at("classes").get<int>();
    impl->arch.spacing_px = j.at("spacing_px").get<double>();
    impl->arch.kind = j.value("kind", "");
    impl->arch.class_names = j.value("class_names", std::vector<std::string>{});
    impl->seed = j.value("seed", std::uint64_t{0});
    if (j.contains("training"))
      for (const auto& [k, v] : j["training"].items())
        impl->notes.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  } catch (const std::exception& e) {
    fail(std::string("manifest.json lacks or mistypes a field: ") + e.what());
  }
  try {
    validate(impl->arch);
  } catch (const std::exception& e) {
    fail(e.what());
  }
  const auto weights = dir / j.value("weights", std::string("weights.pt"));
  if (!std::filesystem::exists(weights)) fail("weights file " + weights.filename().string() + " is missing");
  std::vector<torch::Tensor> tensors;
  try {
    torch::load(tensors, weights.string());
  } catch (const std::exception& e) {
    fail("cannot read " + weights.filename().string() + ": " + std::string(e.what()).substr(0, 200));
  }
  impl->net = impl->make(impl->arch.ensemble);
  auto params = impl->net->parameters();
  if (tensors.size() != params.size())
    fail("weights hold " + std::to_string(tensors.size()) + " tensors but the manifest's architecture has " +
         std::to_string(params.size()));
  torch::NoGradGuard guard;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (tensors[i].sizes() != params[i].sizes()) {
      std::ostringstream s;
      s << "weight tensor " << i << " has shape " << tensors[i].sizes() << " but the manifest's architecture needs "
        << params[i].sizes();
      fail(s.str());
    }
    params[i].copy_(tensors[i].to(torch::kFloat32));
  }
  impl->net->eval();
  return AtomNet(std::move(impl));
}

AtomNetTrainingReport AtomNet::train(const std::vector<AtomNetSample>& samples, const AtomNetTrainingOptions& o) {
  if (samples.empty()) throw std::invalid_argument("AtomNet::train: no training samples");
  std::vector<Prepared> data;
  const double j = std::clamp(o.scale_jitter, 0.0, 0.5);
  const std::vector<double> jitters = j > 0 ? std::vector<double>{-j, 0.0, j} : std::vector<double>{0.0};
  for (const auto& s : samples) {
    check_image(s.image, "AtomNet::train");
    if (!(s.spacing_px > 0.0)) throw std::invalid_argument("AtomNet::train: a sample has spacing_px <= 0");
    for (double jit : jitters) data.push_back(impl_->prepare(s.image, s.atoms, s.ignored, s.spacing_px, jit, o.label_radius));
  }
  return impl_->fit(data, o);
}

namespace {
// The ensemble maps at network sampling, bilinearly resampled to the input image's (rows, cols).
AtomNetMaps upsample_maps(const torch::Tensor& mean, const torch::Tensor& sd, const torch::Tensor& cls,
                          std::int64_t rows, std::int64_t cols) {
  torch::InferenceMode guard;
  namespace F = torch::nn::functional;
  const auto up = [&](const torch::Tensor& t) {
    auto x = t.view({1, 1, t.size(0), t.size(1)});
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<std::int64_t>{rows, cols})
                              .mode(torch::kBilinear)
                              .align_corners(false));
    return to_image(x.view({rows, cols}));
  };
  AtomNetMaps out;
  out.probability = up(mean);
  out.uncertainty = up(sd);
  for (std::int64_t c = 0; c < cls.size(0); ++c) out.class_probability.push_back(up(cls[c]));
  return out;
}
}  // namespace

AtomNetMaps AtomNet::predict(const ImageArray& image, double spacing_px, std::size_t ensemble) const {
  auto m = impl_->net_maps(image, spacing_px, ensemble, "AtomNet::predict");
  return upsample_maps(m.mean, m.sd, m.cls, image.rows(), image.cols());
}

namespace {
double sample_bilinear(const torch::Tensor& t, double r, double c) {
  const auto h = t.size(0), w = t.size(1);
  r = std::clamp(r, 0.0, static_cast<double>(h - 1));
  c = std::clamp(c, 0.0, static_cast<double>(w - 1));
  const auto r0 = static_cast<std::int64_t>(std::floor(r)), c0 = static_cast<std::int64_t>(std::floor(c));
  const auto r1 = std::min(r0 + 1, h - 1), c1 = std::min(c0 + 1, w - 1);
  const double fr = r - static_cast<double>(r0), fc = c - static_cast<double>(c0);
  const auto* p = t.data_ptr<float>();
  return (1 - fr) * ((1 - fc) * p[r0 * w + c0] + fc * p[r0 * w + c1]) +
         fr * ((1 - fc) * p[r1 * w + c0] + fc * p[r1 * w + c1]);
}

// Atoms from net maps, positions mapped back to the input's pixels.
std::vector<Atom> atoms_from_maps(const torch::Tensor& mean, const torch::Tensor& sd,
                                  const torch::Tensor& cls, const Resampled& r, double threshold) {
  auto mean_c = mean.contiguous(), sd_c = sd.contiguous();
  const auto prob = to_image(mean_c);
  auto atoms = atoms_from_probability(prob, threshold);
  std::vector<torch::Tensor> cls_maps;
  for (std::int64_t c = 0; c < cls.size(0); ++c) cls_maps.push_back(cls[c].contiguous());
  for (auto& a : atoms) {
    const double nr = a.position.row, nc = a.position.col;
    a.uncertainty = sample_bilinear(sd_c, nr, nc);
    int best = 0;
    double best_p = -1;
    for (std::size_t c = 0; c < cls_maps.size(); ++c) {
      const double p = sample_bilinear(cls_maps[c], nr, nc);
      if (p > best_p) { best_p = p; best = static_cast<int>(c); }
    }
    a.cls = best;
    a.position.row = (nr + 0.5) / r.scale_row - 0.5;
    a.position.col = (nc + 0.5) / r.scale_col - 0.5;
  }
  return atoms;
}
}  // namespace

std::vector<Atom> AtomNet::find_atoms(const ImageArray& image, double spacing_px, const AtomNetFindOptions& o,
                                      AtomNetMaps* maps) const {
  auto m = impl_->net_maps(image, spacing_px, o.ensemble, "AtomNet::find_atoms");
  torch::InferenceMode guard;
  auto atoms = atoms_from_maps(m.mean, m.sd, m.cls, m.r, o.threshold);
  if (maps) *maps = upsample_maps(m.mean, m.sd, m.cls, image.rows(), image.cols());
  if (o.refine) refine_atoms_centroid(image, atoms, spacing_px);
  return atoms;
}

std::size_t AtomNet::elit_finetune(const ImageArray& image, double spacing_px, std::size_t rounds,
                                   const AtomNetTrainingOptions& options, double min_probability,
                                   double max_uncertainty) {
  std::size_t confident_count = 0;
  for (std::size_t round = 0; round < rounds; ++round) {
    std::vector<Atom> confident;
    std::vector<Position> unsure;
    {
      auto m = impl_->net_maps(image, spacing_px, 0, "AtomNet::elit_finetune");
      torch::InferenceMode guard;
      // candidates at a low threshold, so that weak atoms are masked out rather than taught as background
      for (const auto& a : atoms_from_maps(m.mean, m.sd, m.cls, m.r, 0.3)) {
        if (a.probability >= min_probability && a.uncertainty <= max_uncertainty)
          confident.push_back(a);
        else
          unsure.push_back(a.position);
      }
    }
    confident_count = confident.size();
    std::vector<Prepared> data;
    const double j = std::clamp(options.scale_jitter, 0.0, 0.5);
    for (double jit : j > 0 ? std::vector<double>{-j, 0.0, j} : std::vector<double>{0.0})
      data.push_back(impl_->prepare(image, confident, unsure, spacing_px, jit, options.label_radius));
    auto o = options;
    o.seed = options.seed + 1000 * (round + 1);
    impl_->fit(data, o);
  }
  return confident_count;
}

std::filesystem::path default_atomnet_directory(const std::string& kind) {
  if (const char* env = std::getenv("AUTOSTEM_MODELS"); env && *env)
    return std::filesystem::path(env) / "atoms" / kind;
  return std::filesystem::path(AUTOSTEM_MODELS_DIR) / "atoms" / kind;
}

}  // namespace autostem::strategies
