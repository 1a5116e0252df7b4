// PNG plots of a bench run, drawn by gnuplot (pngcairo terminal): the harness writes plain data
// files and a gnuplot script per figure into out_dir/plots and runs gnuplot on it, so users can
// restyle a figure by editing its .gp file and re-running gnuplot.

#include "bench_harness.hpp"

#include <autostem/imaging/metrics.hpp>
#include <autostem/datasets/results.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

namespace autostem::cli {

namespace {

namespace fs = std::filesystem;

/// Median over seeds of curve value at each measurement count (curves may differ in length; a
/// run that stopped early keeps its last value).
std::vector<double> median_curve(const std::vector<const std::vector<double>*>& curves) {
  std::size_t n = 0;
  for (auto* c : curves) n = std::max(n, c->size());
  std::vector<double> out(n);
  std::vector<double> col;
  for (std::size_t i = 0; i < n; ++i) {
    col.clear();
    for (auto* c : curves)
      if (!c->empty()) col.push_back(i < c->size() ? (*c)[i] : c->back());
    out[i] = percentile(col, 50.0);
  }
  return out;
}

/// Writes an image as gnuplot "x y value" rows, a blank line after each image row.
void write_image_dat(const fs::path& path, const ImageArray& img) {
  std::ofstream f(path);
  for (Eigen::Index r = 0; r < img.rows(); ++r) {
    for (Eigen::Index c = 0; c < img.cols(); ++c) f << c << " " << r << " " << img(r, c) << "\n";
    f << "\n";
  }
}

std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (char c : s) q += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return q + "\"";
}

/// Viridis (perceptually uniform, readable in grey and by colour-blind readers), as a gnuplot
/// palette: matplotlib's viridis sampled at 9 points.
constexpr const char* kViridis =
    "set palette defined (0 '#440154', 1 '#472d7b', 2 '#3b528b', 3 '#2c728e', 4 '#21918c', "
    "5 '#28ae80', 6 '#5ec962', 7 '#addc30', 8 '#fde725')\n";

/// The outline of the region of interest (mask > 0) as gnuplot line segments along pixel edges
/// ("x y" pairs separated by blank lines); false when the mask is empty.
bool write_outline_dat(const fs::path& path, const ImageArray& mask) {
  std::ofstream f(path);
  bool any = false;
  const auto in = [&](Eigen::Index r, Eigen::Index c) {
    return r >= 0 && c >= 0 && r < mask.rows() && c < mask.cols() && mask(r, c) > 0.0;
  };
  for (Eigen::Index r = 0; r < mask.rows(); ++r)
    for (Eigen::Index c = 0; c < mask.cols(); ++c) {
      if (!in(r, c)) continue;
      const double x0 = c - 0.5, x1 = c + 0.5, y0 = r - 0.5, y1 = r + 0.5;
      const auto seg = [&](double ax, double ay, double bx, double by) {
        f << ax << " " << ay << "\n" << bx << " " << by << "\n\n";
        any = true;
      };
      if (!in(r - 1, c)) seg(x0, y0, x1, y0);
      if (!in(r + 1, c)) seg(x0, y1, x1, y1);
      if (!in(r, c - 1)) seg(x0, y0, x0, y1);
      if (!in(r, c + 1)) seg(x1, y0, x1, y1);
    }
  return any;
}

/// Prediction-map snapshots of one run (strategies with a model, e.g. dkl and gp): up to four
/// stored steps (first, two between, last) × (mean, uncertainty, acquisition) as images, with
/// the points measured up to each step. Returns the PNG, or an empty path when the run stored no
/// predictions.
fs::path plot_prediction_snapshots(const fs::path& dir, const std::string& label,
                                   const RunResult& r) {
  const auto rec = datasets::read_results(r.file);
  const auto& steps_all = rec.prediction_steps;
  if (steps_all.empty()) return {};
  std::vector<std::size_t> steps;
  const std::size_t k = steps_all.size();
  for (std::size_t i : {std::size_t(0), k / 3, 2 * k / 3, k - 1})
    if (steps.empty() || steps.back() != steps_all[i]) steps.push_back(steps_all[i]);
  const std::string stem = label + "_" + file_label(r.strategy) + "_predictions";
  const fs::path png = dir / (stem + ".png"), gp = dir / (stem + ".gp");
  // Only the maps the strategy provides (edge, cs: a mean alone) — no blank panels.
  bool provided[3] = {false, false, false};
  {
    const Prediction last = datasets::read_prediction(r.file, steps.back());
    provided[0] = last.mean.size() > 0;
    provided[1] = last.uncertainty.size() > 0;
    provided[2] = last.acquisition.size() > 0;
  }
  const int ncols = int(provided[0]) + int(provided[1]) + int(provided[2]);
  if (ncols == 0) return {};
  const std::string units = r.scalar_units.empty() ? "scalar units" : r.scalar_units;
  std::ofstream g(gp);
  g << "set terminal pngcairo size " << std::max(540 * ncols, 820) << "," << 400 * steps.size() << " font 'sans,9'\n"
    << "set termoption noenhanced\n"
    << "set output " << quoted(png.string()) << "\n"
    << "set multiplot layout " << steps.size() << "," << ncols << " title "
    << quoted("What " + r.strategy + " predicted on " + label + " (seed " + std::to_string(r.seed) +
              "); white circles: spectra measured so far") << "\n"
    << "set size ratio -1\n" << kViridis << "unset key\nset colorbox\nset format cb '%.4g'\nset rmargin 12\n";
  const std::string names[3] = {"predicted value (" + units + ")", "uncertainty of the prediction, σ (" + units + ")",
                                "acquisition score (where it measures next; relative)"};
  for (std::size_t step : steps) {
    const Prediction p = datasets::read_prediction(r.file, step);
    const fs::path pts = dir / (stem + "_step" + std::to_string(step) + "_points.dat");
    {
      std::ofstream f(pts);
      for (std::size_t i = 0; i < std::min(step, r.positions.size()); ++i)
        f << r.positions[i].col << " " << r.positions[i].row << "\n";
    }
    const ImageArray* maps[3] = {&p.mean, &p.uncertainty, &p.acquisition};
    for (int m = 0; m < 3; ++m) {
      const ImageArray& img = *maps[m];
      if (!provided[m]) continue;
      if (img.size() == 0) {  // provided later in the run, not yet at this step
        g << "set multiplot next\n";
        continue;
      }
      const fs::path dat = dir / (stem + "_step" + std::to_string(step) + "_" + std::to_string(m) + ".dat");
      write_image_dat(dat, img);
      g << "set xrange [-0.5:" << img.cols() - 0.5 << "]\nset yrange [" << img.rows() - 0.5
        << ":-0.5]\n"
        << "set title " << quoted(names[m] + ", after " + std::to_string(step) + " spectra") << "\n"
        << "set cblabel " << quoted(m == 2 ? "score" : units) << "\n"
        << "plot " << quoted(dat.string()) << " using 1:2:3 with image, " << quoted(pts.string())
        << " using 1:2 with points pt 6 ps 0.4 lc rgb 'white'\n";
    }
  }
  g << "unset multiplot\n";
  g.close();
  run_gnuplot(gp);
  return png;
}

}  // namespace

void run_gnuplot(const fs::path& script) {
  const std::string cmd = "gnuplot '" + script.string() + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot start gnuplot (install the Debian package gnuplot-nox)");
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int status = pclose(p);
  if (status != 0)
    throw std::runtime_error("gnuplot failed on " + script.string() + ": " +
                             (out.empty() ? "is gnuplot installed (Debian gnuplot-nox)?" : out));
}

namespace {

/// The first seed's successful runs on dataset d, one per strategy in cfg's order.
std::vector<const RunResult*> first_seed_runs(const BenchConfig& cfg, const BenchDataset& d,
                                              const std::vector<RunResult>& results) {
  std::vector<const RunResult*> firsts;
  for (const auto& st : cfg.strategies)
    for (const auto& r : results)
      if (r.dataset == d.label && r.strategy == st.shown() && r.seed == cfg.seeds.front() && r.error.empty())
        firsts.push_back(&r);
  return firsts;
}

/// Visited points over the survey, one panel per strategy (first seed), with the region of
/// interest outlined. Dense runs (a full grid) are drawn as dots, so the survey stays visible.
fs::path plot_visited_points(const fs::path& dir, const BenchDataset& d, std::uint64_t seed,
                             const std::vector<const RunResult*>& firsts) {
  const auto rec = datasets::read_results(firsts.front()->file);
  const fs::path survey_dat = dir / (d.label + "_survey.dat");
  write_image_dat(survey_dat, rec.survey.image.data);
  const fs::path roi_dat = dir / (d.label + "_roi_outline.dat");
  const bool roi = firsts.front()->roi_mask.size() > 0 && write_outline_dat(roi_dat, firsts.front()->roi_mask);
  const fs::path png = dir / (d.label + "_points.png");
  const fs::path gp = dir / (d.label + "_points.gp");
  std::ofstream g(gp);
  const std::size_t n = firsts.size();
  const double pixels = double(rec.survey.image.rows() * rec.survey.image.cols());
  g << "set terminal pngcairo size " << 440 * n << ",500 font 'sans,10'\n"
    << "set termoption noenhanced\n"
    << "set output " << quoted(png.string()) << "\n"
    << "set multiplot layout 1," << n << " title "
    << quoted("Where each strategy measured, over the survey image — " + d.label + " (seed " +
              std::to_string(seed) + ")" + (roi ? "; cyan outline: region of interest" : "")) << "\n"
    << "set size ratio -1\nunset colorbox\nset palette gray\nset key below\n"
    << "set xrange [-0.5:" << rec.survey.image.cols() - 0.5 << "]\n"
    << "set yrange [" << rec.survey.image.rows() - 0.5 << ":-0.5]\n"
    << "set xlabel 'column (px)'\nset ylabel 'row (px)'\n";
  for (const RunResult* r : firsts) {
    const fs::path pts = dir / (d.label + "_" + file_label(r->strategy) + "_points.dat");
    {
      std::ofstream f(pts);
      for (const auto& p : r->positions) f << p.col << " " << p.row << "\n";
    }
    const double share = double(r->positions.size()) / pixels;
    std::ostringstream title;
    title.precision(share >= 0.1 ? 3 : 2);
    title << r->strategy << ": " << r->positions.size() << " spectra (" << 100.0 * share << " % of the pixels)";
    // Semi-transparent markers ('#AARRGGBB', AA = transparency); dots once they would tile the image.
    const std::string marks = share > 0.2 ? "with dots lc rgb '#90ff5000'"
                                          : "with points pt 7 ps 0.45 lc rgb '#30ff5000'";
    g << "set title " << quoted(title.str()) << "\n"
      << "plot " << quoted(survey_dat.string()) << " using 1:2:3 with image notitle, "
      << quoted(pts.string()) << " using 1:2 " << marks << " title 'spectrum measured'";
    if (roi) g << ", " << quoted(roi_dat.string()) << " using 1:2 with lines lw 1.2 lc rgb '#00e5ff' title 'region of interest'";
    g << "\n";
  }
  g << "unset multiplot\n";
  g.close();
  run_gnuplot(gp);
  return png;
}

/// The ground-truth scalar map (region of interest outlined) beside each strategy's map rebuilt
/// from its measured spectra (nearest measurement, the map the map-error figures score), first
/// seed, one colour scale and bar in the scalarizer's units. Empty path when no map was kept.
fs::path plot_maps(const fs::path& dir, const BenchConfig& cfg, const BenchDataset& d,
                   const std::vector<const RunResult*>& firsts) {
  const RunResult* ref = nullptr;
  for (const RunResult* r : firsts)
    if (r->truth_map.size() > 0) ref = r;
  if (!ref) return {};
  const ImageArray& truth = ref->truth_map;
  const double lo = truth.minCoeff(), hi = truth.maxCoeff();
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {};
  const std::string units = ref->scalar_units.empty() ? "scalar units" : ref->scalar_units;
  const std::string what = cfg.scalarizer.empty() ? "total counts" : cfg.scalarizer;
  const fs::path truth_dat = dir / (d.label + "_truth_map.dat");
  write_image_dat(truth_dat, truth);
  const fs::path roi_dat = dir / (d.label + "_roi_outline.dat");
  const bool roi = ref->roi_mask.size() > 0 && write_outline_dat(roi_dat, ref->roi_mask);
  std::vector<const RunResult*> rebuilt;
  for (const RunResult* r : firsts)
    if (r->reconstruction.size() > 0) rebuilt.push_back(r);
  const std::size_t n = 1 + rebuilt.size();
  const fs::path png = dir / (d.label + "_maps.png");
  const fs::path gp = dir / (d.label + "_maps.gp");
  std::ofstream g(gp);
  g << "set terminal pngcairo size " << 540 * n << ",480 font 'sans,10'\n"
    << "set termoption noenhanced\n"
    << "set output " << quoted(png.string()) << "\n"
    << "set multiplot layout 1," << n << " title "
    << quoted("Ground truth and the maps rebuilt from each strategy's spectra (every pixel takes the "
              "nearest measurement) — " + d.label + ", " + what + " (seed " + std::to_string(ref->seed) + ")")
    << "\n"
    << "set size ratio -1\n" << kViridis << "set colorbox\nunset key\n"
    << "set cbrange [" << lo << ":" << hi << "]\nset cblabel " << quoted(units) << " offset 1\n"
    << "set format cb '%.4g'\nset rmargin 12\n"
    << "set xrange [-0.5:" << truth.cols() - 0.5 << "]\nset yrange [" << truth.rows() - 0.5 << ":-0.5]\n"
    << "set xlabel 'column (px)'\nset ylabel 'row (px)'\n";
  g << "set title " << quoted("ground truth" + std::string(roi ? " (white: region of interest)" : "")) << "\n"
    << "plot " << quoted(truth_dat.string()) << " using 1:2:3 with image";
  if (roi) g << ", " << quoted(roi_dat.string()) << " using 1:2 with lines lw 1 lc rgb 'white'";
  g << "\n";
  for (const RunResult* r : rebuilt) {
    const fs::path dat = dir / (d.label + "_" + file_label(r->strategy) + "_rebuilt_map.dat");
    write_image_dat(dat, r->reconstruction);
    std::ostringstream t;
    t.precision(3);
    t << r->strategy << ", " << r->positions.size() << " spectra: NRMSE " << r->nrmse;
    g << "set title " << quoted(t.str()) << "\n"
      << "plot " << quoted(dat.string()) << " using 1:2:3 with image\n";
  }
  g << "unset multiplot\n";
  g.close();
  run_gnuplot(gp);
  return png;
}

/// Drift (issue 16): per first-seed run, the true drift at each measurement (actual − commanded),
/// the correction applied (requested − commanded, the predicted drift) and the remaining error
/// |actual − requested|, in px against the measurement index. Empty path when no run drifted.
fs::path plot_drift(const fs::path& dir, const BenchDataset& d, std::uint64_t seed,
                    const std::vector<const RunResult*>& firsts) {
  std::vector<const RunResult*> drifted;
  for (const RunResult* r : firsts) {
    bool moved = false;
    for (std::size_t i = 0; i < r->positions.size() && i < r->requested.size() && !moved; ++i)
      moved = std::abs(r->positions[i].row - r->requested[i].row) > 1e-9 ||
              std::abs(r->positions[i].col - r->requested[i].col) > 1e-9;
    if (moved) drifted.push_back(r);
  }
  if (drifted.empty()) return {};
  const fs::path png = dir / (d.label + "_drift.png");
  const fs::path gp = dir / (d.label + "_drift.gp");
  std::ofstream g(gp);
  const std::size_t n = drifted.size();
  g << "set terminal pngcairo size " << 460 * n << ",420 font 'sans,10'\n"
    << "set termoption noenhanced\n"
    << "set output " << quoted(png.string()) << "\n"
    << "set multiplot layout 1," << n << " title "
    << quoted("Drift: where the beam landed vs where it was meant to — " + d.label + " (seed " +
              std::to_string(seed) + ")") << "\n"
    << "set xlabel 'measurement'\nset ylabel 'px (survey frame)'\nset key top left\nset grid\n";
  for (const RunResult* r : drifted) {
    const fs::path dat = dir / (d.label + "_" + file_label(r->strategy) + "_drift.dat");
    {
      std::ofstream f(dat);
      f << "# index true_drift_row true_drift_col correction_row correction_col error_px\n";
      for (std::size_t i = 0; i < r->positions.size(); ++i) {
        const Position& a = r->positions[i];
        const Position& q = r->requested[i];
        const Position& c = i < r->commanded.size() ? r->commanded[i] : q;
        f << i + 1 << " " << a.row - c.row << " " << a.col - c.col << " " << q.row - c.row << " "
          << q.col - c.col << " " << std::hypot(a.row - q.row, a.col - q.col) << "\n";
      }
    }
    g << "set title " << quoted(r->strategy) << "\n"
      << "plot " << quoted(dat.string()) << " using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'true drift (row)', "
      << quoted(dat.string()) << " using 1:3 with lines lw 2 lc rgb '#ff7f0e' title 'true drift (col)', "
      << quoted(dat.string()) << " using 1:4 with lines dt 2 lw 2 lc rgb '#1f77b4' title 'correction (row)', "
      << quoted(dat.string()) << " using 1:5 with lines dt 2 lw 2 lc rgb '#ff7f0e' title 'correction (col)', "
      << quoted(dat.string()) << " using 1:6 with lines lw 1 lc rgb '#d62728' title '|landed − requested|'\n";
  }
  g << "unset multiplot\n";
  g.close();
  run_gnuplot(gp);
  return png;
}

/// Median over seeds at each spectrum count (a run that stopped early keeps its last value);
/// NaN when no run has the curve (e.g. no region of interest).
std::vector<double> median_or_nan(const std::vector<const std::vector<double>*>& curves) {
  std::vector<const std::vector<double>*> some;
  for (auto* c : curves)
    if (!c->empty()) some.push_back(c);
  if (some.empty()) return {};
  return median_curve(some);
}

/// Recall, missed maximum (regret) and map error against spectra, experiment time and dose
/// (median over seeds at each spectrum count, against the median time and dose at that count):
/// the question "how much of what I want do I have after this long / this much dose?". Empty path
/// when no strategy has a successful run on d.
fs::path plot_curves(const fs::path& dir, const BenchConfig& cfg, const BenchDataset& d,
                     const std::vector<RunResult>& results) {
  const fs::path png = dir / (d.label + "_curves.png");
  const fs::path gp = dir / (d.label + "_curves.gp");
  struct Series {
    std::string label;
    fs::path curve, error;
  };
  std::vector<Series> series;
  std::string units = "scalar units";
  for (const auto& st : cfg.strategies) {
    std::vector<const std::vector<double>*> recall, regret, time, dose;
    std::map<std::size_t, std::vector<double>> err;
    for (const auto& r : results)
      if (r.dataset == d.label && r.strategy == st.shown() && r.error.empty()) {
        recall.push_back(&r.recall_curve);
        regret.push_back(&r.regret_curve);
        time.push_back(&r.time_curve);
        dose.push_back(&r.dose_curve);
        for (auto [k, e] : r.nrmse_curve) err[k].push_back(e);
        if (!r.scalar_units.empty()) units = r.scalar_units;
      }
    if (regret.empty()) continue;
    const auto mr = median_or_nan(recall), mg = median_or_nan(regret), mt = median_or_nan(time),
               md = median_or_nan(dose);
    const auto at = [](const std::vector<double>& v, std::size_t i) {
      return v.empty() ? std::numeric_limits<double>::quiet_NaN() : v[std::min(i, v.size() - 1)];
    };
    const std::size_t len = std::max({mr.size(), mg.size(), mt.size()});
    Series s{st.shown(), dir / (d.label + "_" + file_label(st.shown()) + "_curves.dat"),
             dir / (d.label + "_" + file_label(st.shown()) + "_nrmse.dat")};
    {
      // Thinned: every spectrum up to 1000, then about 1 % steps.
      std::ofstream f(s.curve);
      f << "# spectra recall missed_maximum time_min dose_e_per_A2 (medians over seeds)\n";
      std::size_t step = 1;
      for (std::size_t i = 0; i < len; i += step) {
        f << i + 1 << " " << at(mr, i) << " " << at(mg, i) << " " << at(mt, i) / 60.0 << " " << at(md, i) << "\n";
        if (i > 1000) step = std::max<std::size_t>(1, i / 100);
      }
      if (len > 0)
        f << len << " " << at(mr, len - 1) << " " << at(mg, len - 1) << " " << at(mt, len - 1) / 60.0 << " "
          << at(md, len - 1) << "\n";
    }
    {
      std::ofstream f(s.error);
      f << "# spectra nrmse time_min dose_e_per_A2 (medians over seeds)\n";
      for (auto& [k, v] : err)
        f << k << " " << percentile(v, 50.0) << " " << at(mt, k - 1) / 60.0 << " " << at(md, k - 1) << "\n";
    }
    series.push_back(std::move(s));
  }
  if (series.empty()) return {};
  std::ofstream g(gp);
  g << "set terminal pngcairo size 1380,1140 font 'sans,10'\n"
    << "set termoption noenhanced\n"
    << "set output " << quoted(png.string()) << "\n"
    << "set multiplot layout 3,3 title "
    << quoted(d.label + ": what each strategy has after so many spectra, so much time, so much dose "
              "(median over seeds)") << "\n"
    << "set grid\nset key bottom right\n";
  struct Row {
    std::string ylabel, yrange;
    bool errors;
    int col;
  };
  const Row rows[3] = {{"recall of the region of interest", "[0:1.02]", false, 2},
                       {"missed maximum (" + units + ")", "[0:*]", false, 3},
                       {"map error (NRMSE)", "[0:*]", true, 2}};
  struct Axis {
    std::string xlabel;
    int col_curve, col_error;
    bool log;
  };
  // All logarithmic: a full grid takes 30–100× the time and dose of a sparse strategy.
  const Axis axes[3] = {{"spectra measured", 1, 1, true},
                        {"experiment time (min)", 4, 3, true},
                        {"dose so far, field mean (e-/Å²)", 5, 4, true}};
  for (const Row& row : rows)
    for (const Axis& ax : axes) {
      g << (ax.log ? "set logscale x\n" : "unset logscale x\n") << "set xlabel " << quoted(ax.xlabel) << "\n"
        << "set ylabel " << quoted(row.ylabel) << "\nset yrange " << row.yrange << "\nset xrange [*:*]\n"
        << "set title " << quoted(row.ylabel + " vs " + ax.xlabel) << "\nplot ";
      for (std::size_t i = 0; i < series.size(); ++i) {
        const Series& s = series[i];
        g << (i ? ", " : "") << quoted((row.errors ? s.error : s.curve).string()) << " using "
          << (row.errors ? ax.col_error : ax.col_curve) << ":" << row.col
          << (row.errors ? " with linespoints lw 2 pt 7 ps 0.5" : " with lines lw 2") << " lc " << i + 1
          << " title " << quoted(s.label);
      }
      g << "\n";
    }
  g << "unset multiplot\n";
  g.close();
  run_gnuplot(gp);
  return png;
}

/// Experiment time and dose per strategy (median over seeds), as bars.
fs::path plot_time_dose(const fs::path& dir, const BenchConfig& cfg, const BenchDataset& d,
                        const std::vector<RunResult>& results) {
  const fs::path tdat = dir / (d.label + "_time_dose.dat");
  {
    std::ofstream f(tdat);
    for (const auto& st : cfg.strategies) {
      std::vector<double> t, dose;
      for (const auto& r : results)
        if (r.dataset == d.label && r.strategy == st.shown() && r.error.empty()) {
          t.push_back(r.summary.time_s / 60.0);
          dose.push_back(r.summary.dose_e_per_A2);
        }
      if (!t.empty()) f << quoted(st.shown()) << " " << percentile(t, 50.0) << " " << percentile(dose, 50.0) << "\n";
    }
  }
  const fs::path tpng = dir / (d.label + "_time_dose.png");
  const fs::path tgp = dir / (d.label + "_time_dose.gp");
  {
    std::ofstream g(tgp);
    g << "set terminal pngcairo size 900,380 font 'sans,10'\n"
      << "set termoption noenhanced\n"
      << "set output " << quoted(tpng.string()) << "\n"
      << "set multiplot layout 1,2 title " << quoted(d.label + ": experiment time and dose (median)") << "\n"
      << "set style fill solid 0.8\nset boxwidth 0.6\nset grid ytics\nset logscale y\n"
      << "set ylabel 'simulated experiment time (min)'\nset title 'Time'\n"
      << "plot " << quoted(tdat.string()) << " using 0:2:xtic(1) with boxes lc rgb '#3a6ea5' notitle\n"
      << "set ylabel 'dose over the field (e-/Å²)'\nset title 'Dose'\n"
      << "plot " << quoted(tdat.string()) << " using 0:3:xtic(1) with boxes lc rgb '#c0504d' notitle\n"
      << "unset multiplot\n";
  }
  run_gnuplot(tgp);
  return tpng;
}

}  // namespace

std::vector<fs::path> write_plots(const BenchConfig& cfg, const std::vector<RunResult>& results) {
  const fs::path dir = cfg.out_dir / "plots";
  fs::create_directories(dir);
  std::vector<fs::path> written;
  for (const auto& d : cfg.datasets) {
    const auto firsts = first_seed_runs(cfg, d, results);
    if (!firsts.empty()) written.push_back(plot_visited_points(dir, d, cfg.seeds.front(), firsts));
    if (auto png = plot_maps(dir, cfg, d, firsts); !png.empty()) written.push_back(png);
    if (auto png = plot_drift(dir, d, cfg.seeds.front(), firsts); !png.empty()) written.push_back(png);
    // Prediction-map snapshots of the model strategies (first seed).
    for (const RunResult* r : firsts)
      if (auto png = plot_prediction_snapshots(dir, d.label, *r); !png.empty()) written.push_back(png);
    if (auto png = plot_curves(dir, cfg, d, results); !png.empty()) written.push_back(png);
    written.push_back(plot_time_dose(dir, cfg, d, results));
  }
  return written;
}

}  // namespace autostem::cli
