// autostem report RUN.h5|BENCH_DIR --out report.html (issue 18, docs/live-view.md): one
// self-contained HTML file a person reads. For a run: the live view's page with the finished
// run's state embedded (the same panels: survey with the points and path, the strategy's last
// maps, the last signal, time and dose against the budgets, operator events, stop reason). For a
// bench folder: summary.md (the tables and the plain-language definitions of their columns) and
// every plot of plots/ embedded as a data: URI.

#include "cli.hpp"
#include "live_view.hpp"

#include <autostem/datasets/results.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace autostem::cli {

namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

/// Inline markdown of summary.md: **bold**, `code`; everything else escaped.
std::string inline_md(const std::string& text) {
  const std::string s = html_escape(text);
  std::string o;
  bool bold = false, code = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!code && s.compare(i, 2, "**") == 0) {
      o += bold ? "</b>" : "<b>";
      bold = !bold;
      ++i;
    } else if (s[i] == '`') {
      o += code ? "</code>" : "<code>";
      code = !code;
    } else {
      o += s[i];
    }
  }
  if (bold) o += "</b>";
  if (code) o += "</code>";
  return o;
}

std::vector<std::string> table_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::string cur;
  for (std::size_t i = 1; i < line.size(); ++i) {  // skip the leading '|'
    if (line[i] == '|' && line[i - 1] != '\\') {
      const auto a = cur.find_first_not_of(' '), b = cur.find_last_not_of(' ');
      cells.push_back(a == std::string::npos ? "" : cur.substr(a, b - a + 1));
      cur.clear();
    } else {
      cur += line[i];
    }
  }
  return cells;
}

/// The subset of Markdown that write_summaries writes (headings, paragraphs, pipe tables,
/// bullet lists, bold, code) as HTML.
std::string markdown_to_html(const std::string& md) {
  std::istringstream in(md);
  std::string line, out, para;
  bool in_table = false, header_done = false, in_list = false;
  const auto flush_para = [&] {
    if (!para.empty()) out += "<p>" + inline_md(para) + "</p>\n";
    para.clear();
  };
  const auto close_blocks = [&] {
    flush_para();
    if (in_table) out += "</tbody></table>\n";
    if (in_list) out += "</ul>\n";
    in_table = in_list = false;
  };
  while (std::getline(in, line)) {
    if (line.rfind("|", 0) == 0) {
      flush_para();
      const auto cells = table_cells(line);
      const bool rule = std::all_of(line.begin(), line.end(), [](char c) { return c == '|' || c == '-' || c == ':' || c == ' '; });
      if (!in_table) {
        out += "<table class=\"summary\"><thead><tr>";
        for (const auto& c : cells) out += "<th>" + inline_md(c) + "</th>";
        out += "</tr></thead><tbody>\n";
        in_table = true;
        header_done = false;
      } else if (rule && !header_done) {
        header_done = true;
      } else {
        out += "<tr>";
        for (const auto& c : cells) out += "<td>" + inline_md(c) + "</td>";
        out += "</tr>\n";
      }
      continue;
    }
    if (in_table) {
      out += "</tbody></table>\n";
      in_table = false;
    }
    if (line.rfind("#", 0) == 0) {
      close_blocks();
      const auto level = std::min<std::size_t>(line.find_first_not_of('#'), 4);
      const std::string h = "h" + std::to_string(level + 1);
      out += "<" + h + ">" + inline_md(line.substr(line.find_first_not_of("# "))) + "</" + h + ">\n";
    } else if (line.rfind("- ", 0) == 0 || line.rfind("* ", 0) == 0) {
      flush_para();
      if (!in_list) out += "<ul>\n";
      in_list = true;
      out += "<li>" + inline_md(line.substr(2)) + "</li>\n";
    } else if (line.find_first_not_of(' ') == std::string::npos) {
      close_blocks();
    } else {
      para += (para.empty() ? "" : " ") + line;
    }
  }
  close_blocks();
  return out;
}

/// What a bench plot shows, from its file name (bench_plots.cpp names them).
std::string plot_caption(const std::string& name) {
  const auto ends = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends("_points.png")) return "Where each strategy measured, over the survey, region of interest outlined (first seed)";
  if (ends("_curves.png"))
    return "Recall of the region of interest, missed maximum (regret) and map error against spectra, "
           "session time and dose (median over seeds)";
  if (ends("_time_dose.png")) return "Experiment time and dose per strategy (median over seeds)";
  if (ends("_maps.png")) return "The ground-truth map beside each strategy's map rebuilt from its spectra (first seed)";
  if (ends("_drift.png")) return "Drift: measured and predicted offsets";
  if (name.find("prediction") != std::string::npos) return "The strategy's prediction maps as the run went on";
  return name;
}

std::string bench_report(const fs::path& dir) {
  const fs::path md = dir / "summary.md";
  if (!fs::exists(md))
    throw UsageError(dir.string() + " has no summary.md: not an `autostem bench --out` folder");
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>autostem bench report</title>\n"
      "<style>body{font:14px/1.4 system-ui,sans-serif;margin:16px;max-width:1500px;color:#222}"
      "table.summary{border-collapse:collapse;margin:8px 0;font-size:13px}"
      "table.summary td,table.summary th{border:1px solid #ccc;padding:3px 7px;text-align:left}"
      "table.summary th{background:#f0f0ee}figure{margin:14px 0}figcaption{color:#444;margin-bottom:4px}"
      "img{max-width:100%;border:1px solid #ddd}code{background:#f3f3f3}</style></head><body>\n";
  html += "<p class=\"source\">autostem report of the bench folder <code>" + html_escape(dir.filename().string()) +
          "</code></p>\n<section id=\"summary\">\n" + markdown_to_html(read_file(md)) + "</section>\n";
  std::vector<fs::path> pngs;
  if (fs::is_directory(dir / "plots"))
    for (const auto& e : fs::directory_iterator(dir / "plots"))
      if (e.path().extension() == ".png") pngs.push_back(e.path());
  std::sort(pngs.begin(), pngs.end());
  html += "<section id=\"plots\"><h2>Plots</h2>\n";
  if (pngs.empty())
    html += "<p>No plots: this bench ran with --no-plots (or gnuplot was missing); run the bench again "
            "without it to have them here.</p>\n";
  for (const auto& p : pngs) {
    const std::string bytes = read_file(p);
    html += "<figure><figcaption>" + html_escape(plot_caption(p.filename().string())) + " — <code>" +
            html_escape(p.filename().string()) + "</code></figcaption><img alt=\"" +
            html_escape(p.filename().string()) + "\" src=\"data:image/png;base64," +
            base64(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()) + "\"></figure>\n";
  }
  html += "</section>\n</body></html>\n";
  return html;
}

std::string run_report(const fs::path& file) {
  std::string state = run_state_from_file(file).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // Inside <script>, "</" would end the element: JSON lets it be written "<\/".
  for (std::size_t at = state.find("</"); at != std::string::npos; at = state.find("</", at + 3))
    state.replace(at, 2, "<\\/");
  std::string html = live_page_html();
  const std::string marker = "<!--AUTOSTEM_STATE-->";
  const auto at = html.find(marker);
  if (at == std::string::npos) throw std::logic_error("report: the built-in page has no state marker");
  html.replace(at, marker.size(), "<script id=\"autostem-state\" type=\"application/json\">" + state + "</script>");
  return html;
}

}  // namespace

int cmd_report(const std::vector<std::string>& args) {
  po::options_description o("autostem report options");
  o.add_options()("help,h", "this help")("input", po::value<std::string>()->required(),
                                         "a results file (RUN.h5) or a bench folder (autostem bench --out)")(
      "out", po::value<std::string>()->required(), "the HTML file to write");
  po::positional_options_description pos;
  pos.add("input", 1);
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem report RUN.h5|BENCH_DIR --out report.html\n"
            "Writes one self-contained HTML file (images embedded; opens with no network): for a run,\n"
            "the live view's panels for the finished run; for a bench folder, the summary tables with\n"
            "their definitions and every plot.",
            &pos))
    return 0;
  const fs::path in = vm["input"].as<std::string>();
  const fs::path out = vm["out"].as<std::string>();
  if (!fs::exists(in)) throw UsageError(in.string() + " does not exist");
  std::string html;
  if (fs::is_directory(in)) html = bench_report(in);
  else if (datasets::is_results_file(in)) html = run_report(in);
  else throw UsageError(in.string() + " is neither an autostem results file nor a bench folder");
  std::ofstream f(out, std::ios::binary);
  if (!f) throw std::runtime_error("cannot write " + out.string());
  f << html;
  f.close();
  if (!f) throw std::runtime_error("writing " + out.string() + " failed");
  std::cout << "wrote " << out.string() << " (" << html.size() / 1024 << " KiB)\n";
  return 0;
}

}  // namespace autostem::cli
