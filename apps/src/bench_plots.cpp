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
  std::ofstream g(gp);
  g << "set terminal pngcairo size 1260," << 380 * steps.size() << " font 'sans,9'\n"
    << "set termoption noenhanced\n"
    << "set output " << quoted(png.string()) << "\n"
    << "set multiplot layout " << steps.size() << ",3 title "
    << quoted("Prediction maps — " + r.strategy + " on " + label + " (seed " +
              std::to_string(r.seed) + ")") << "\n"
    << "set size ratio -1\nset palette rgb 33,13,10\nunset key\n";
  const char* names[3] = {"mean", "uncertainty (σ)", "acquisition"};
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
      if (img.size() == 0) {  // a map the strategy does not provide (e.g. edge gives only a mean)
        g << "set multiplot next\n";
        continue;
      }
      const fs::path dat = dir / (stem + "_step" + std::to_string(step) + "_" + std::to_string(m) + ".dat");
      write_image_dat(dat, img);
      g << "set xrange [-0.5:" << img.cols() - 0.5 << "]\nset yrange [" << img.rows() - 0.5
        << ":-0.5]\n"
        << "set title " << quoted(std::string(names[m]) + " after " + std::to_string(step) + " spectra") << "\n"
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

/// Visited points over the survey, one panel per strategy (first seed).
fs::path plot_visited_points(const fs::path& dir, const BenchDataset& d, std::uint64_t seed,
                             const std::vector<const RunResult*>& firsts) {
  const auto rec = datasets::read_results(firsts.front()->file);
  const fs::path survey_dat = dir / (d.label + "_survey.dat");
  write_image_dat(survey_dat, rec.survey.image.data);
  const fs::path png = dir / (d.label + "_points.png");
  const fs::path gp = dir / (d.label + "_points.gp");
  std::ofstream g(gp);
  const std::size_t n = firsts.size();
  g << "set terminal pngcairo size " << 420 * n << ",460 font 'sans,10'\n"
    << "set termoption noenhanced\n"
    << "set output " << quoted(png.string()) << "\n"
    << "set multiplot layout 1," << n << " title "
    << quoted("Visited points over the survey — " + d.label + " (seed " + std::to_string(seed) + ")") << "\n"
    << "set size ratio -1\nunset colorbox\nset palette gray\n"
    << "set xrange [-0.5:" << rec.survey.image.cols() - 0.5 << "]\n"
    << "set yrange [" << rec.survey.image.rows() - 0.5 << ":-0.5]\n"
    << "set xlabel 'col (px)'\nset ylabel 'row (px)'\n";
  for (const RunResult* r : firsts) {
    const fs::path pts = dir / (d.label + "_" + file_label(r->strategy) + "_points.dat");
    {
      std::ofstream f(pts);
      for (const auto& p : r->positions) f << p.col << " " << p.row << "\n";
    }
    g << "set title " << quoted(r->strategy + ": " + std::to_string(r->positions.size()) + " points") << "\n"
      << "plot " << quoted(survey_dat.string()) << " using 1:2:3 with image notitle, "
      << quoted(pts.string()) << " using 1:2 with points pt 7 ps 0.35 lc rgb '#e8400c' notitle\n";
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

/// Writes the median recall curve (thinned geometrically: every point up to 1000, then 1 %).
void write_recall_dat(const fs::path& path, const std::vector<double>& med) {
  std::ofstream f(path);
  std::size_t step = 1;
  for (std::size_t i = 0; i < med.size(); i += step) {
    f << i + 1 << " " << med[i] << "\n";
    if (i > 1000) step = std::max<std::size_t>(1, i / 100);
  }
  if (!med.empty()) f << med.size() << " " << med.back() << "\n";
}

/// Recall and reconstruction error versus measurements (median over seeds); empty path when no
/// strategy has a successful run on d.
fs::path plot_curves(const fs::path& dir, const BenchConfig& cfg, const BenchDataset& d,
                     const std::vector<RunResult>& results) {
  const fs::path png = dir / (d.label + "_curves.png");
  const fs::path gp = dir / (d.label + "_curves.gp");
  std::ostringstream recall_plot, error_plot;
  bool any = false;
  for (const auto& st : cfg.strategies) {
    std::vector<const std::vector<double>*> curves;
    std::map<std::size_t, std::vector<double>> err;
    for (const auto& r : results)
      if (r.dataset == d.label && r.strategy == st.shown() && r.error.empty()) {
        curves.push_back(&r.recall_curve);
        for (auto [k, e] : r.nrmse_curve) err[k].push_back(e);
      }
    if (curves.empty()) continue;
    const fs::path rdat = dir / (d.label + "_" + file_label(st.shown()) + "_recall.dat");
    write_recall_dat(rdat, median_curve(curves));
    const fs::path edat = dir / (d.label + "_" + file_label(st.shown()) + "_nrmse.dat");
    {
      std::ofstream f(edat);
      for (auto& [k, v] : err) f << k << " " << percentile(v, 50.0) << "\n";
    }
    recall_plot << (any ? ", " : "plot ") << quoted(rdat.string()) << " using 1:2 with lines lw 2 title "
                << quoted(st.shown());
    error_plot << (any ? ", " : "plot ") << quoted(edat.string())
               << " using 1:2 with linespoints lw 2 pt 7 ps 0.6 title " << quoted(st.shown());
    any = true;
  }
  if (!any) return {};
  std::ofstream g(gp);
  g << "set terminal pngcairo size 1000,420 font 'sans,10'\n"
    << "set termoption noenhanced\n"
    << "set output " << quoted(png.string()) << "\n"
    << "set multiplot layout 1,2 title " << quoted(d.label + ": median over seeds") << "\n"
    << "set logscale x\nset grid\nset key bottom right\nset xlabel 'measurements'\n"
    << "set ylabel 'recall of the region of interest'\nset yrange [0:1.02]\n"
    << "set title 'Recall vs measurements'\n"
    << recall_plot.str() << "\n"
    << "set yrange [*:*]\nset key top right\nset ylabel 'NRMSE of the inpainted map'\n"
    << "set title 'Reconstruction error vs measurements'\n"
    << error_plot.str() << "\nunset multiplot\n";
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
