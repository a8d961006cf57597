// The evaluation report (report.hpp): results JSON -> charts, one HTML page, a Markdown summary.
#include "clipzs/report/report.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "report/chart.hpp"

namespace clipzs {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace report_detail;

namespace {

// ---- reading results ---------------------------------------------------------------------------

struct ClassRow {
  std::string name;
  int64_t count = 0;
  double recall = 0;
  int64_t index = 0;
};

struct Confusion {
  int64_t count = 0;
  double share = 0;  // of the true class's images
  int64_t truth = 0, predicted = 0;
};

// One evaluated run, as the comparison and the curves need it.
struct Run {
  std::string source, dataset, model, pretrained, method, split;
  bool fewshot = false;
  int64_t shots = 0, seed = 0;
  double acc1 = 0, acc5 = 0, mpcr = 0;
  int64_t evaluated = 0;
  json compare;
};

double number_at(const json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number())
    throw Error(ErrorKind::kInput, where + " has no number \"" + key + "\"",
                "pass results JSON files written by `" + call("eval") + " " + param("out") + "`");
  return j[key].get<double>();
}

Run read_run(const json& r, const std::string& source) {
  if (!r.is_object() || !r.contains("metrics"))
    throw Error(ErrorKind::kInput, "'" + source + "' is not a " + call("eval") + " results file (no \"metrics\")",
                "pass results JSON files written by `" + call("eval") + " " + param("out") + "`");
  Run run;
  run.source = source;
  const json& m = r["metrics"];
  run.acc1 = number_at(m, "acc1", source + " metrics");
  run.acc5 = m.value("acc5", 0.0);
  run.mpcr = m.value("mean_per_class_recall", 0.0);
  run.dataset = r.value("dataset", "");
  run.model = r.value("model", "");
  run.pretrained = r.value("pretrained", "");
  const json c = r.value("context", json::object());
  run.method = c.value("method", "zeroshot");
  run.split = c.value("split", "");
  run.fewshot = r.value("task", "") == "fewshot_classification";
  if (c.contains("fewshot") && c["fewshot"].is_object()) {
    run.shots = c["fewshot"].value("shots", int64_t{0});
    run.seed = c["fewshot"].value("seed", int64_t{0});
  }
  run.evaluated = r.value("counts", json::object()).value("evaluated", int64_t{0});
  run.compare = r.value("compare", json::object());
  if (!run.compare.is_object())
    throw Error(ErrorKind::kInput, "'" + source + "': \"compare\" is not an object", "pass results JSON files written by `" + call("eval") + " " + param("out") + "`");
  for (const auto& [variant, m] : run.compare.items())
    if (m.is_object() && m.contains("acc1") && !m["acc1"].is_number())
      throw Error(ErrorKind::kInput, "'" + source + "': compare." + variant + ".acc1 is not a number",
                  "pass results JSON files written by `" + call("eval") + " " + param("out") + "`");
  return run;
}

std::vector<ClassRow> read_classes(const json& r, const std::string& source) {
  if (!r.contains("per_class") || !r["per_class"].is_array())
    throw Error(ErrorKind::kInput, "'" + source + "' has no \"per_class\" list", "write it again with `" + call("eval") + " " + param("out") + "` of this clipzs");
  std::vector<ClassRow> rows;
  for (const auto& e : r["per_class"]) {
    ClassRow row;
    row.name = e.value("class", "");
    row.count = e.value("count", int64_t{0});
    row.recall = e.value("recall", 0.0);
    row.index = static_cast<int64_t>(rows.size());
    rows.push_back(row);
  }
  return rows;
}

std::vector<int64_t> read_confusion(const json& r, const std::string& source, size_t classes) {
  std::vector<int64_t> m;
  const json& c = r.value("confusion_matrix", json::array());
  if (!c.is_array() || c.size() != classes)
    throw Error(ErrorKind::kInput, "'" + source + "': \"confusion_matrix\" is not " + std::to_string(classes) + " x " +
                                       std::to_string(classes));
  m.reserve(classes * classes);
  for (size_t i = 0; i < classes; ++i) {
    if (!c[i].is_array() || c[i].size() != classes)
      throw Error(ErrorKind::kInput, "'" + source + "': row " + std::to_string(i) + " of \"confusion_matrix\" has " +
                                         std::to_string(c[i].size()) + " entries, expected " + std::to_string(classes));
    for (const auto& v : c[i]) m.push_back(v.get<int64_t>());
  }
  return m;
}

// The same run twice (one file named twice, or two files of one few-shot K and seed) would count twice in
// a mean; runs differing only in split or weights would share a bar. So: repeats are dropped (a note
// says which), and the dataset and model names shown carry the split and the weights where they differ.
std::vector<Run> distinct_runs(const std::vector<Run>& runs, size_t primary, std::vector<std::string>& notes) {
  auto file_key = [](const std::string& source) {
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(fs::absolute(source), ec);
    return ec ? source : p.string();
  };
  auto run_key = [](const Run& r) {
    return r.fewshot ? r.dataset + "\x1f" + r.split + "\x1f" + r.model + "\x1f" + r.pretrained + "\x1f" + r.method + "\x1f" +
                           std::to_string(r.shots) + "\x1f" + std::to_string(r.seed)
                     : std::string();
  };
  std::map<std::string, std::string> seen_files, seen_runs;  // key -> the source kept
  auto keep = [&](const Run& r) {
    const std::string f = file_key(r.source), k = run_key(r);
    if (seen_files.count(f)) {
      notes.push_back("'" + r.source + "' is given more than once; counted once");
      return false;
    }
    if (!k.empty() && seen_runs.count(k)) {
      notes.push_back("'" + r.source + "' repeats " + r.method + " K=" + std::to_string(r.shots) + " seed " + std::to_string(r.seed) +
                      " of '" + seen_runs[k] + "'; not counted");
      return false;
    }
    seen_files[f] = r.source;
    if (!k.empty()) seen_runs[k] = r.source;
    return true;
  };
  keep(runs[primary]);  // the primary is never the one dropped
  std::vector<Run> out;
  for (size_t i = 0; i < runs.size(); ++i)
    if (i == primary || keep(runs[i])) out.push_back(runs[i]);
  // Disambiguating names: "<dataset> (<split>)", "<model> (<weights>)" where one name has several
  // (named ones: a result that names none, e.g. zero-shot over a store, joins the others).
  std::map<std::string, std::set<std::string>> splits, weights;
  for (const auto& r : out) {
    if (!r.split.empty()) splits[r.dataset].insert(r.split);
    if (!r.pretrained.empty()) weights[r.model].insert(r.pretrained);
  }
  for (auto& r : out) {
    if (splits[r.dataset].size() > 1 && !r.split.empty()) r.dataset += " (" + r.split + ")";
    if (weights[r.model].size() > 1 && !r.pretrained.empty()) r.model += " (" + r.pretrained + ")";
  }
  return out;
}

// ---- formatting ----------------------------------------------------------------------------------

std::string fixed(double v, int digits) {
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}
std::string pct(double fraction, int digits = 2) { return fixed(100 * fraction, digits); }

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Markdown table cells: a '|' or a newline would break the row.
std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += table[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string method_label(const Run& r) {
  std::string label = r.method;
  if (r.fewshot && r.shots > 0) label += " K=" + std::to_string(r.shots);
  return label;
}

// ---- the comparison and the curves -----------------------------------------------------------------

struct Entry {
  std::string label;
  double mean = 0, std = 0;  // acc1, fractions
  int runs = 0;
  std::string family;        // the method, for the colour
};

using MethodOrder = std::vector<std::string>;

int method_rank(const MethodOrder& order, const std::string& method) {
  for (size_t i = 0; i < order.size(); ++i)
    if (method == order[i]) return static_cast<int>(i);
  return 100;
}

// A method's palette index, the same in every chart of a report (and, for the methods clipzs knows,
// in every report); other methods share the three colours after those, in order of appearance.
class MethodColours {
 public:
  explicit MethodColours(const MethodOrder& order) : order_(order) {}
  size_t operator()(const std::string& method) {
    const int rank = method_rank(order_, method);
    const int known = std::min<int>(static_cast<int>(order_.size()), kPaletteSize - 2);
    if (rank < known) return static_cast<size_t>(rank);
    const auto it = std::find(unknown_.begin(), unknown_.end(), method);
    const size_t i = static_cast<size_t>(it - unknown_.begin());
    if (it == unknown_.end()) unknown_.push_back(method);
    return static_cast<size_t>(known) + i % static_cast<size_t>(kPaletteSize - known);
  }

 private:
  static constexpr int kPaletteSize = 10;  // chart.cpp's palette(); at least 2 colours stay for other methods
  const MethodOrder& order_;
  std::vector<std::string> unknown_;
};

Entry summarize(const std::string& label, const std::string& family, const std::vector<double>& values) {
  Entry e;
  e.label = label;
  e.family = family;
  e.runs = static_cast<int>(values.size());
  e.mean = std::accumulate(values.begin(), values.end(), 0.0) / std::max<size_t>(1, values.size());
  double ss = 0;
  for (double v : values) ss += (v - e.mean) * (v - e.mean);
  e.std = values.size() > 1 ? std::sqrt(ss / static_cast<double>(values.size() - 1)) : 0.0;  // sample std, as sweeps report
  return e;
}

// Per dataset (in order of first appearance): one entry per method; few-shot methods at their largest K.
std::vector<std::pair<std::string, std::vector<Entry>>> comparison(const std::vector<Run>& runs, const MethodOrder& method_order) {
  std::vector<std::string> datasets;
  for (const auto& r : runs)
    if (std::find(datasets.begin(), datasets.end(), r.dataset) == datasets.end()) datasets.push_back(r.dataset);
  std::vector<std::pair<std::string, std::vector<Entry>>> out;
  for (const auto& ds : datasets) {
    std::vector<std::string> order;
    std::map<std::string, std::vector<double>> values;
    std::map<std::string, std::string> family;
    std::map<std::string, int64_t> max_shots;
    for (const auto& r : runs)
      if (r.dataset == ds && r.fewshot) max_shots[r.method + "\x1f" + r.model] = std::max(max_shots[r.method + "\x1f" + r.model], r.shots);
    auto add = [&](const std::string& label, const std::string& fam, double v) {
      if (!values.count(label)) order.push_back(label);
      values[label].push_back(v);
      family[label] = fam;
    };
    std::set<std::string> models;
    for (const auto& r : runs)
      if (r.dataset == ds) models.insert(r.model);
    for (const auto& r : runs) {
      if (r.dataset != ds) continue;
      if (r.fewshot && r.shots != max_shots[r.method + "\x1f" + r.model]) continue;
      const std::string prefix = models.size() > 1 ? r.model + ": " : "";
      add(prefix + method_label(r), r.method, r.acc1);
      if (r.compare.is_object())
        for (const auto& [variant, m] : r.compare.items()) {
          if (variant == r.method || !m.is_object() || !m.contains("acc1")) continue;  // the method itself is the main bar
          add(prefix + r.method + ": " + (variant == "zeroshot" ? "image only (zero-shot)" : variant == "captions_only" ? "captions only" : variant),
              r.method, m["acc1"].get<double>());
        }
    }
    std::vector<Entry> entries;
    for (const auto& label : order) entries.push_back(summarize(label, family[label], values[label]));
    // Zero-shot first, then the label-free methods, then the few-shot ones; otherwise as given.
    std::stable_sort(entries.begin(), entries.end(), [&method_order](const Entry& a, const Entry& b) {
      return method_rank(method_order, a.family) < method_rank(method_order, b.family);
    });
    out.emplace_back(ds, std::move(entries));
  }
  return out;
}

struct CurveSet {
  std::string dataset, model;
  std::string name;  // the dataset, and the model when the dataset has few-shot results of several models
  std::vector<std::pair<std::string, std::vector<Entry>>> methods;  // method -> one entry per K (label = K)
  std::vector<std::vector<int64_t>> shots;
  double zeroshot = -1;
};

// One set per (dataset, model): a model's few-shot curves are drawn against its own zero-shot line.
std::vector<CurveSet> fewshot_curves(const std::vector<Run>& runs, const MethodOrder& method_order) {
  std::vector<CurveSet> out;
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& r : runs)
    if (r.fewshot && r.shots > 0 && std::find(keys.begin(), keys.end(), std::make_pair(r.dataset, r.model)) == keys.end())
      keys.emplace_back(r.dataset, r.model);
  for (const auto& [ds, model] : keys) {
    CurveSet set;
    set.dataset = ds;
    set.model = model;
    const bool several = std::count_if(keys.begin(), keys.end(), [&](const auto& k) { return k.first == ds; }) > 1;
    set.name = several ? ds + " \u00b7 " + model : ds;
    std::vector<std::string> methods;
    std::map<std::string, std::map<int64_t, std::vector<double>>> by;
    std::vector<double> zs;
    for (const auto& r : runs) {
      if (r.dataset != ds || r.model != model) continue;
      if (!r.fewshot && r.method == "zeroshot") zs.push_back(r.acc1);
      if (!r.fewshot || r.shots <= 0) continue;
      if (!by.count(r.method)) methods.push_back(r.method);
      by[r.method][r.shots].push_back(r.acc1);
    }
    if (!zs.empty()) set.zeroshot = std::accumulate(zs.begin(), zs.end(), 0.0) / static_cast<double>(zs.size());
    for (const auto& m : methods) {
      std::vector<Entry> entries;
      std::vector<int64_t> ks;
      for (const auto& [k, values] : by[m]) {
        entries.push_back(summarize(std::to_string(k), m, values));
        ks.push_back(k);
      }
      set.methods.emplace_back(m, std::move(entries));
      set.shots.push_back(std::move(ks));
    }
    // Curves in the canonical method order.
    std::vector<size_t> idx(set.methods.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return method_rank(method_order, set.methods[a].first) < method_rank(method_order, set.methods[b].first); });
    decltype(set.methods) methods_sorted;
    decltype(set.shots) shots_sorted;
    for (size_t i : idx) {
      methods_sorted.push_back(set.methods[i]);
      shots_sorted.push_back(set.shots[i]);
    }
    set.methods = std::move(methods_sorted);
    set.shots = std::move(shots_sorted);
    out.push_back(std::move(set));
  }
  return out;
}

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return out.empty() ? "dataset" : out;
}

}  // namespace

PngSize png_size(const std::string& b) {
  static const char signature[] = "\x89PNG\r\n\x1a\n";
  if (b.size() < 24 || b.compare(0, 8, std::string(signature, 8)) != 0 || b.compare(12, 4, "IHDR") != 0) return {};
  auto be32 = [&](size_t at) {
    return static_cast<int>((uint32_t(uint8_t(b[at])) << 24) | (uint32_t(uint8_t(b[at + 1])) << 16) |
                            (uint32_t(uint8_t(b[at + 2])) << 8) | uint32_t(uint8_t(b[at + 3])));
  };
  return {be32(16), be32(20)};
}

void check_report_folder(const std::string& dir, const std::vector<std::string>& keep) {
  if (dir.empty()) throw Error(ErrorKind::kUsage, "no report folder given", "give " + param("report") + " (or " + param("out") + " of `" + call("write_eval_report") + "`) a new folder");
  // What every folder replaced as a whole must not be ('/', the working folder or above, a link).
  const fs::path d(check_replaceable_folder(dir));
  std::error_code ec;
  const auto status = fs::symlink_status(d, ec);
  // A new folder inside DIR, or (DIR being a file) one beside it.
  const fs::path suggestion = fs::exists(status) && !fs::is_directory(status) ? fs::path(d.string() + "-report") : d / "report";
  const std::string what_to_do = "give " + param("report") + " (or " + param("out") + " of `" + call("write_eval_report") + "`) a new folder, e.g. " + suggestion.lexically_normal().string();
  for (const auto& k : keep)
    if (!k.empty() && path_within(k, d.string()))
      throw Error(ErrorKind::kUsage, "'" + k + "' lies in the report folder '" + dir + "', which writing the report replaces as a whole",
                  what_to_do);
  if (!fs::exists(status)) return;
  if (!fs::is_directory(status))
    throw Error(ErrorKind::kUsage, "the report folder '" + dir + "' exists and is not a folder", what_to_do);
  // Only a previous report is replaced: anything else in DIR is somebody's work.
  auto refuse = [&](const fs::path& entry) {
    throw Error(ErrorKind::kUsage, "the report folder '" + dir + "' holds '" + entry.string() +
                                       "', which is not part of a report; writing the report replaces the folder as a whole",
                what_to_do);
  };
  for (const auto& entry : fs::directory_iterator(d)) {
    const std::string name = entry.path().filename().string();
    if ((name == "report.html" || name == "summary.md") && entry.is_regular_file()) continue;
    if (name != "charts" || !entry.is_directory() || entry.is_symlink()) refuse(entry.path());
    for (const auto& chart : fs::directory_iterator(entry.path()))
      if (!chart.is_regular_file() || chart.is_symlink() || chart.path().extension() != ".png") refuse(chart.path());
  }
}

namespace {

// ---- the report's figures --------------------------------------------------------------------------

// Everything the charts, the Markdown summary and the page are written from: the results read and
// checked once, and what is derived from the primary result's classes and confusion matrix.
struct ReportData {
  const json* main = nullptr;  // the primary result
  std::string main_source;
  Run run;                     // the primary result as read (names not disambiguated)
  std::vector<Run> runs;       // distinct_runs(): the results counted
  size_t given = 0;            // results given, counted or not
  std::string title;
  std::vector<ClassRow> classes;        // the primary result's, in class order
  std::vector<int64_t> confusion;       // C x C
  std::vector<ClassRow> sorted;         // classes, worst recall first (ties: by name)
  std::vector<ClassRow> present;        // sorted, without the classes that have no images
  std::vector<Confusion> confusions;    // the top confusions, most images first
  std::vector<std::pair<std::string, std::vector<Entry>>> compared;  // comparison()
  size_t bar_count = 0;                 // entries in `compared`
  std::vector<CurveSet> curve_sets;     // fewshot_curves()
  std::vector<std::string> curve_charts;  // the curve charts' file names, one per set

  size_t class_count() const { return classes.size(); }
  // More than one bar to compare: the page and the summary show the comparison.
  bool compares() const { return bar_count > 1 || compared.size() > 1; }
  // "N file(s)" and, when some were not counted, how many were given.
  std::string counted() const {
    return std::to_string(runs.size()) + " file(s)" +
           (runs.size() < given ? " counted of " + std::to_string(given) + " given (see the notes below)" : "");
  }
};

// Reads every result (the primary one's classes and confusion matrix too), drops repeated runs (a note
// in `notes` each) and derives the class ranking and the top confusions. A result that is not an eval
// results file, or a field of the wrong type while reading, is Error(kInput) naming its file.
ReportData read_report_data(const std::vector<json>& results, const std::vector<std::string>& sources, size_t primary,
                            const ReportOptions& options, std::vector<std::string>& notes) {
  if (results.empty() || results.size() != sources.size() || primary >= results.size())
    throw Error(ErrorKind::kUsage, "a report needs results, one source name each, and a primary result among them");
  ReportData data;
  std::vector<Run> all_runs;
  data.main = &results[primary];
  data.main_source = sources[primary];
  // A field of the wrong type (a string where a number goes) names the file rather than escaping raw.
  size_t reading = 0;
  try {
    for (; reading < results.size(); ++reading) all_runs.push_back(read_run(results[reading], sources[reading]));
    reading = primary;
    data.classes = read_classes(*data.main, data.main_source);
    data.confusion = read_confusion(*data.main, data.main_source, data.classes.size());
  } catch (const json::exception& e) {
    throw Error(ErrorKind::kInput, "'" + sources[reading] + "' is not a " + call("eval") + " results file: " + e.what(),
                "pass results JSON files written by `" + call("eval") + " " + param("out") + "`");
  }
  data.given = results.size();
  data.run = all_runs[primary];
  data.runs = distinct_runs(all_runs, primary, notes);
  data.title = !options.title.empty() ? options.title
                                      : data.run.dataset + " \u00b7 " + data.run.model + " \u00b7 " + method_label(data.run);

  // Per-class recall, sorted worst first (ties: by name).
  data.sorted = data.classes;
  std::sort(data.sorted.begin(), data.sorted.end(), [](const ClassRow& a, const ClassRow& b) {
    if (a.recall != b.recall) return a.recall < b.recall;
    return a.name < b.name;
  });
  for (const auto& r : data.sorted)
    if (r.count > 0) data.present.push_back(r);

  // Top confusions: off-diagonal cells by count (ties: larger share, then lower indices).
  const size_t c = data.class_count();
  const auto& classes = data.classes;
  const auto& confusion = data.confusion;
  auto& confusions = data.confusions;
  for (size_t i = 0; i < c; ++i)
    for (size_t j = 0; j < c; ++j)
      if (i != j && confusion[i * c + j] > 0)
        confusions.push_back({confusion[i * c + j],
                              classes[i].count > 0 ? static_cast<double>(confusion[i * c + j]) / classes[i].count : 0.0,
                              static_cast<int64_t>(i), static_cast<int64_t>(j)});
  std::sort(confusions.begin(), confusions.end(), [](const Confusion& a, const Confusion& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.share != b.share) return a.share > b.share;
    return std::tie(a.truth, a.predicted) < std::tie(b.truth, b.predicted);
  });
  if (confusions.size() > static_cast<size_t>(std::max(0, options.top_confusions)))
    confusions.resize(static_cast<size_t>(std::max(0, options.top_confusions)));

  data.compared = comparison(data.runs, options.method_order);
  for (const auto& [ds, entries] : data.compared) data.bar_count += entries.size();
  data.curve_sets = fewshot_curves(data.runs, options.method_order);
  return data;
}

// ---- charts ----------------------------------------------------------------------------------------

// The report's charts: each written to charts/ of the folder being written as it is drawn, its final
// path listed in ReportFiles::charts, and its bytes kept for inlining into the page.
class ReportCharts {
 public:
  ReportCharts(fs::path tmp, std::string dir, std::vector<std::string>& paths)
      : tmp_(std::move(tmp)), dir_(std::move(dir)), paths_(paths) {}

  void add(const std::string& name, std::string png) {
    write_file_atomic((tmp_ / "charts" / name).string(), png);
    paths_.push_back((fs::path(dir_) / "charts" / name).string());
    charts_.emplace_back(name, std::move(png));
  }

  // The chart `name` as an inlined figure (shown at half its drawn width), or "" when it was not drawn.
  std::string figure(const std::string& name, const std::string& alt) const {
    for (const auto& [n, png] : charts_)
      if (n == name) {
        const PngSize size = png_size(png);
        return "<figure><img alt=\"" + html_escape(alt) + "\" width=\"" + std::to_string(size.width / 2) + "\" src=\"data:image/png;base64," +
               base64(png) + "\"><figcaption>charts/" + html_escape(name) + "</figcaption></figure>\n";
      }
    return std::string();
  }

 private:
  fs::path tmp_;
  std::string dir_;
  std::vector<std::string>& paths_;
  std::vector<std::pair<std::string, std::string>> charts_;  // name, png bytes
};

// per_class_recall.png: every class with images, worst first, or (more than options.max_bar_classes) the
// worst and best halves of that many around a gap; then recall_sorted.png, every class's recall as a
// curve, when the bars could not show them all.
void draw_recall_charts(const ReportData& data, const ReportOptions& options, ReportCharts& charts) {
  const auto& present = data.present;
  const Run& run = data.run;
  std::vector<BarRow> bars;
  const size_t limit = static_cast<size_t>(std::max(2, options.max_bar_classes));
  auto class_bar = [](const ClassRow& r) {
    BarRow b;
    b.label = r.name;
    b.value = 100 * r.recall;
    b.annotation = fixed(100 * r.recall, 1) + "%  (n=" + std::to_string(r.count) + ")";
    b.colour = recall_colour(r.recall);
    return b;
  };
  if (present.size() <= limit) {
    for (const auto& r : present) bars.push_back(class_bar(r));
  } else {
    for (size_t i = 0; i < limit / 2; ++i) bars.push_back(class_bar(present[i]));
    BarRow gap;
    gap.gap = true;
    gap.label = "\u2026 " + std::to_string(present.size() - 2 * (limit / 2)) + " classes in between \u2026";
    bars.push_back(gap);
    for (size_t i = present.size() - limit / 2; i < present.size(); ++i) bars.push_back(class_bar(present[i]));
  }
  const std::string mean_label = "mean per-class recall " + pct(run.mpcr, 1) + "%";
  charts.add("per_class_recall.png",
             bar_chart_png(present.size() <= limit ? "Recall per class (top-1), worst first"
                                                   : "Recall per class (top-1): the " + std::to_string(limit / 2) +
                                                         " worst and the " + std::to_string(limit / 2) + " best",
                           bars, 100.0, 100 * run.mpcr, mean_label, "recall (share of the class's images predicted as it)"));
  if (present.size() > limit) {
    std::vector<double> values;
    for (const auto& r : present) values.push_back(r.recall);
    charts.add("recall_sorted.png", sorted_curve_png("Recall of every class, sorted", values, run.mpcr, mean_label));
  }
}

// confusion.png: the heat map of every class when they fit options.max_heatmap_classes, else of the
// classes of the top confusions, those numbered as in the tables. Returns the chart's title (the page
// uses it as the image's text), also when there was nothing to draw.
std::string draw_confusion_chart(const ReportData& data, const ReportOptions& options, ReportCharts& charts) {
  const size_t c = data.class_count();
  const auto& classes = data.classes;
  const auto& confusion = data.confusion;
  const auto& confusions = data.confusions;
  std::vector<int64_t> shown;
  const size_t max_heat = static_cast<size_t>(std::max(2, options.max_heatmap_classes));
  if (c <= max_heat) {
    for (size_t i = 0; i < c; ++i) shown.push_back(static_cast<int64_t>(i));
  } else {
    std::set<int64_t> picked;
    for (const auto& f : confusions) {
      if (picked.size() + 2 > max_heat) break;
      picked.insert(f.truth);
      picked.insert(f.predicted);
    }
    shown.assign(picked.begin(), picked.end());
  }
  std::string heat_title = c <= max_heat ? "Confusion matrix (" + std::to_string(c) + " classes; rows: true class)"
                                         : "Confusion matrix of the " + std::to_string(shown.size()) + " classes in the top confusions (of " +
                                               std::to_string(c) + ")";
  if (!shown.empty()) {
    const size_t n = shown.size();
    std::vector<double> values(n * n);
    std::vector<int64_t> counts(n * n);
    std::vector<std::string> labels;
    for (size_t a = 0; a < n; ++a) {
      labels.push_back(classes[static_cast<size_t>(shown[a])].name);
      const int64_t total = classes[static_cast<size_t>(shown[a])].count;
      for (size_t b = 0; b < n; ++b) {
        const int64_t k = confusion[static_cast<size_t>(shown[a]) * c + static_cast<size_t>(shown[b])];
        counts[a * n + b] = k;
        values[a * n + b] = total > 0 ? static_cast<double>(k) / static_cast<double>(total) : 0.0;
      }
    }
    std::vector<HeatCell> marked;
    for (size_t r = 0; r < confusions.size(); ++r) {
      auto at = [&](int64_t cls) { return std::find(shown.begin(), shown.end(), cls) - shown.begin(); };
      const auto row = at(confusions[r].truth), col = at(confusions[r].predicted);
      if (row < static_cast<long>(n) && col < static_cast<long>(n))
        marked.push_back({static_cast<int>(row), static_cast<int>(col), static_cast<int>(r + 1)});
    }
    charts.add("confusion.png", heatmap_png(heat_title, labels, values, counts, marked));
  }
  return heat_title;
}

// methods.png, when there is more than one bar: per dataset a heading and one bar per method (mean
// top-1, +- std over runs), coloured by method.
void draw_method_chart(const ReportData& data, MethodColours& method_colour, ReportCharts& charts) {
  if (!data.compares()) return;
  std::vector<BarRow> rows;
  for (const auto& [ds, entries] : data.compared) {
    BarRow h;
    h.heading = true;
    h.label = ds.empty() ? "(dataset not named)" : ds;
    rows.push_back(h);
    for (const auto& e : entries) {
      BarRow b;
      b.label = e.label;
      b.value = 100 * e.mean;
      b.spread = e.runs > 1 ? 100 * e.std : -1;
      b.annotation = pct(e.mean) + "%" + (e.runs > 1 ? " \u00b1 " + pct(e.std) + " (" + std::to_string(e.runs) + " runs)" : "");
      b.colour = palette(method_colour(e.family));
      rows.push_back(b);
    }
  }
  charts.add("methods.png", bar_chart_png("Top-1 accuracy by method", rows, 100.0, -1, "", "top-1 accuracy"));
}

// fewshot_<dataset>[_<model>].png per curve set: top-1 against K per method (mean +- std over seeds)
// with the model's zero-shot line. Returns the file names, in the order of data.curve_sets.
std::vector<std::string> draw_fewshot_charts(const ReportData& data, MethodColours& method_colour, ReportCharts& charts) {
  std::vector<std::string> curve_charts;
  for (const auto& set : data.curve_sets) {
    std::vector<Curve> curves;
    for (size_t m = 0; m < set.methods.size(); ++m) {
      Curve cv;
      cv.label = set.methods[m].first;
      cv.colour = static_cast<int>(method_colour(set.methods[m].first));
      for (size_t k = 0; k < set.methods[m].second.size(); ++k) {
        const Entry& e = set.methods[m].second[k];
        cv.x.push_back(static_cast<double>(set.shots[m][k]));
        cv.y.push_back(100 * e.mean);
        cv.spread.push_back(e.runs > 1 ? 100 * e.std : -1);
      }
      curves.push_back(std::move(cv));
    }
    const std::string stem = "fewshot_" + safe_name(set.dataset) + (set.name == set.dataset ? "" : "_" + safe_name(set.model));
    std::string name = stem + ".png";
    for (int n = 2; std::find(curve_charts.begin(), curve_charts.end(), name) != curve_charts.end(); ++n)
      name = stem + "_" + std::to_string(n) + ".png";  // two names that differ only in characters made safe
    charts.add(name, curves_png("Few-shot top-1 accuracy vs shots: " + set.name + " (mean \u00b1 std over seeds)", curves,
                                set.zeroshot >= 0 ? 100 * set.zeroshot : -1,
                                set.zeroshot >= 0 ? "zero-shot " + pct(set.zeroshot) + "%" : ""));
    curve_charts.push_back(name);
  }
  return curve_charts;
}

// ---- Markdown (summary.md) -------------------------------------------------------------------------

// The title and the primary result's headline metrics.
void md_headline(const ReportData& data, std::string& md) {
  const Run& run = data.run;
  const json counts = data.main->value("counts", json::object());
  md += "# " + data.title + "\n\n";
  md += "| metric | value |\n|---|---:|\n";
  md += "| top-1 accuracy | " + pct(run.acc1) + " % |\n";
  md += "| top-5 accuracy | " + pct(run.acc5) + " % |\n";
  md += "| mean per-class recall | " + pct(run.mpcr) + " % |\n";
  md += "| images evaluated | " + std::to_string(counts.value("evaluated", int64_t{0})) + " |\n";
  md += "| unreadable images | " + std::to_string(counts.value("unreadable", int64_t{0})) + " |\n";
  md += "| classes | " + std::to_string(data.class_count()) + " |\n\n";
}

// Every bar of the method comparison, when there is more than one.
void md_method_comparison(const ReportData& data, std::string& md) {
  if (!data.compares()) return;
  md += "## Method comparison (top-1 %)\n\n| dataset | method | top-1 % | runs |\n|---|---|---:|---:|\n";
  for (const auto& [ds, entries] : data.compared)
    for (const auto& e : entries)
      md += "| " + md_cell(ds) + " | " + md_cell(e.label) + " | " + pct(e.mean) + (e.runs > 1 ? " \u00b1 " + pct(e.std) : "") +
            " | " + std::to_string(e.runs) + " |\n";
  md += "\n";
}

// Per curve set: one row per method, one column per K, and the zero-shot figure.
void md_fewshot_tables(const ReportData& data, std::string& md) {
  for (const auto& set : data.curve_sets) {
    std::set<int64_t> all_k;
    for (const auto& ks : set.shots) all_k.insert(ks.begin(), ks.end());
    md += "## Few-shot top-1 % vs K: " + md_cell(set.name) + "\n\n| method |";
    for (int64_t k : all_k) md += " K=" + std::to_string(k) + " |";
    md += "\n|---|";
    for (size_t i = 0; i < all_k.size(); ++i) md += "---:|";
    md += "\n";
    for (size_t m = 0; m < set.methods.size(); ++m) {
      md += "| " + md_cell(set.methods[m].first) + " |";
      for (int64_t k : all_k) {
        const auto it = std::find(set.shots[m].begin(), set.shots[m].end(), k);
        if (it == set.shots[m].end()) { md += " |"; continue; }
        const Entry& e = set.methods[m].second[static_cast<size_t>(it - set.shots[m].begin())];
        // Appended piece by piece: `"literal" + std::string&&` trips gcc 12's -Wrestrict false positive
        // (GCC bug 105329) in C++20 builds.
        md += " ";
        md += pct(e.mean);
        if (e.runs > 1) {
          md += " \u00b1 ";
          md += pct(e.std);
        }
        md += " |";
      }
      md += "\n";
    }
    if (set.zeroshot >= 0) md += "\nzero-shot: " + pct(set.zeroshot) + " %\n";
    md += "\n";
  }
}

// The ten worst classes with images, and the top confusions.
void md_classes_and_confusions(const ReportData& data, std::string& md) {
  const auto& present = data.present;
  const auto& confusions = data.confusions;
  const auto& classes = data.classes;
  md += "## Worst classes\n\n| class | images | recall % |\n|---|---:|---:|\n";
  for (size_t i = 0; i < std::min<size_t>(10, present.size()); ++i)
    md += "| " + md_cell(present[i].name) + " | " + std::to_string(present[i].count) + " | " + pct(present[i].recall) + " |\n";
  md += "\n## Top confusions\n\n";
  if (confusions.empty()) {
    md += "None: every evaluated image was predicted as its class.\n";
  } else {
    md += "| # | true class | predicted as | images | share of the true class % |\n|---:|---|---|---:|---:|\n";
    for (size_t i = 0; i < confusions.size(); ++i)
      md += "| " + std::to_string(i + 1) + " | " + md_cell(classes[static_cast<size_t>(confusions[i].truth)].name) + " | " +
            md_cell(classes[static_cast<size_t>(confusions[i].predicted)].name) + " | " + std::to_string(confusions[i].count) +
            " | " + pct(confusions[i].share) + " |\n";
  }
}

// summary.md: the page's figures as tables, then the files counted and the notes.
std::string markdown_summary(const ReportData& data, const std::vector<std::string>& notes) {
  std::string md;
  md_headline(data, md);
  md_method_comparison(data, md);
  md_fewshot_tables(data, md);
  md_classes_and_confusions(data, md);
  md += "\nResults: " + data.counted() + "; primary `" + data.main_source + "`. Charts: `charts/`.\n";
  for (const auto& note : notes) md += "\nNote: " + note + "\n";
  return md;
}

// ---- HTML (report.html) ----------------------------------------------------------------------------

// From the doctype to <main>: the title and the page's stylesheet.
void html_head(const ReportData& data, std::string& h) {
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<title>" + html_escape(data.title) + "</title>\n<style>\n"
       "body{font-family:'DejaVu Sans',system-ui,sans-serif;color:#212529;margin:0;background:#f8f9fa}\n"
       "main{max-width:1060px;margin:0 auto;padding:24px 28px 48px;background:#fff}\n"
       "h1{font-size:24px;margin:4px 0 2px}h2{font-size:19px;margin:34px 0 10px;border-bottom:1px solid #dee2e6;padding-bottom:4px}\n"
       ".sub{color:#6c757d;margin:0 0 18px}\n"
       ".cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #dee2e6;border-radius:8px;padding:10px 16px;min-width:140px}\n"
       ".card b{display:block;font-size:26px}.card span{color:#6c757d;font-size:13px}\n"
       "figure{margin:10px 0}figure img{max-width:100%;height:auto;border:1px solid #e9ecef}figcaption{color:#6c757d;font-size:12px}\n"
       "table{border-collapse:collapse;margin:8px 0;font-size:14px}th,td{border-bottom:1px solid #e9ecef;padding:4px 10px;text-align:left}\n"
       "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f1f3f5}\n"
       "details{margin:8px 0}summary{cursor:pointer;color:#1c7ed6}code{font-size:13px}\n"
       "</style>\n</head>\n<body>\n<main>\n";
}

// The heading, the line under it (creation time, primary file) and the headline metrics as cards.
void html_headline(const ReportData& data, std::string& h) {
  const Run& run = data.run;
  const json counts = data.main->value("counts", json::object());
  const json context = data.main->value("context", json::object());
  h += "<h1>" + html_escape(data.title) + "</h1>\n";
  const std::string created = context.value("created", "");
  h += "<p class=\"sub\">clipzs evaluation report \u00b7 " + (created.empty() ? "" : html_escape(created) + " \u00b7 ") + "<code>" +
       html_escape(data.main_source) + "</code></p>\n";
  h += "<div class=\"cards\">\n";
  auto card = [&](const std::string& value, const std::string& what) {
    h += "<div class=\"card\"><b>" + html_escape(value) + "</b><span>" + html_escape(what) + "</span></div>\n";
  };
  card(pct(run.acc1) + "%", "top-1 accuracy");
  card(pct(run.acc5) + "%", "top-5 accuracy");
  card(pct(run.mpcr) + "%", "mean per-class recall");
  card(std::to_string(counts.value("evaluated", int64_t{0})), "images evaluated");
  card(std::to_string(data.class_count()), "classes");
  if (counts.value("unreadable", int64_t{0}) > 0) card(std::to_string(counts.value("unreadable", int64_t{0})), "unreadable images");
  h += "</div>\n";
}

// The recall charts, and every class (worst first) with the class it is most often mistaken for, folded.
void html_per_class(const ReportData& data, const ReportCharts& charts, std::string& h) {
  const size_t c = data.class_count();
  const auto& classes = data.classes;
  const auto& confusion = data.confusion;
  h += "<h2>Per-class recall</h2>\n" + charts.figure("per_class_recall.png", "recall per class, sorted") +
       charts.figure("recall_sorted.png", "recall of every class, sorted");
  h += "<details><summary>All " + std::to_string(c) + " classes (worst first)</summary>\n<table><tr><th>class</th><th class=\"n\">images</th>"
       "<th class=\"n\">recall %</th><th>most often predicted instead</th></tr>\n";
  for (const auto& r : data.sorted) {
    int64_t best = -1, best_count = 0;
    for (size_t j = 0; j < c; ++j)
      if (static_cast<int64_t>(j) != r.index && confusion[static_cast<size_t>(r.index) * c + j] > best_count) {
        best = static_cast<int64_t>(j);
        best_count = confusion[static_cast<size_t>(r.index) * c + j];
      }
    h += "<tr><td>" + html_escape(r.name) + "</td><td class=\"n\">" + std::to_string(r.count) + "</td><td class=\"n\">" +
         (r.count > 0 ? pct(r.recall) : "\u2013") + "</td><td>" +
         (best >= 0 ? html_escape(classes[static_cast<size_t>(best)].name) + " (" + std::to_string(best_count) + ")" : "") + "</td></tr>\n";
  }
  h += "</table>\n</details>\n";
}

// The heat map and the table of the top confusions.
void html_confusions(const ReportData& data, const ReportCharts& charts, const std::string& heat_title, std::string& h) {
  const auto& confusions = data.confusions;
  const auto& classes = data.classes;
  h += "<h2>Confusions</h2>\n" + charts.figure("confusion.png", heat_title);
  if (confusions.empty()) {
    h += "<p>None: every evaluated image was predicted as its class.</p>\n";
  } else {
    h += "<table><tr><th class=\"n\">#</th><th>true class</th><th>predicted as</th><th class=\"n\">images</th><th class=\"n\">share of the true class %</th></tr>\n";
    for (size_t i = 0; i < confusions.size(); ++i)
      h += "<tr><td class=\"n\">" + std::to_string(i + 1) + "</td><td>" + html_escape(classes[static_cast<size_t>(confusions[i].truth)].name) +
           "</td><td>" + html_escape(classes[static_cast<size_t>(confusions[i].predicted)].name) + "</td><td class=\"n\">" +
           std::to_string(confusions[i].count) + "</td><td class=\"n\">" + pct(confusions[i].share) + "</td></tr>\n";
    h += "</table>\n";
  }
}

// The method comparison chart and table, or a line saying how to get one; then the few-shot curves.
void html_methods_and_curves(const ReportData& data, const ReportCharts& charts, std::string& h) {
  if (data.compares()) {
    h += "<h2>Method comparison</h2>\n" + charts.figure("methods.png", "top-1 accuracy by method");
    h += "<table><tr><th>dataset</th><th>method</th><th class=\"n\">top-1 %</th><th class=\"n\">runs</th></tr>\n";
    for (const auto& [ds, entries] : data.compared)
      for (const auto& e : entries)
        h += "<tr><td>" + html_escape(ds) + "</td><td>" + html_escape(e.label) + "</td><td class=\"n\">" + pct(e.mean) +
             (e.runs > 1 ? " \u00b1 " + pct(e.std) : "") + "</td><td class=\"n\">" + std::to_string(e.runs) + "</td></tr>\n";
    h += "</table>\n";
  } else {
    h += "<h2>Method comparison</h2>\n<p>One method in these results; a report made from the results of several methods "
         "(or of several shot counts) compares them here.</p>\n";
  }
  if (!data.curve_charts.empty()) {
    h += "<h2>Few-shot accuracy vs K</h2>\n";
    for (const auto& name : data.curve_charts) h += charts.figure(name, "few-shot accuracy against shots");
  }
}

// The primary result's provenance (dataset, model, bundle, method and its parameters, inputs, hardware),
// then every results file counted, folded.
void html_run_context(const ReportData& data, std::string& h) {
  const json& main = *data.main;
  const Run& run = data.run;
  const json context = main.value("context", json::object());
  h += "<h2>Run context</h2>\n<table>\n";
  auto row = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) h += "<tr><th>" + html_escape(k) + "</th><td>" + html_escape(v) + "</td></tr>\n";
  };
  auto text_of = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.is_null() ? std::string() : v.dump(); };
  row("dataset", run.dataset);
  row("model", run.model + (main.value("pretrained", "").empty() ? "" : " (" + main.value("pretrained", "") + ")"));
  row("bundle sha256", context.value("bundle", json::object()).value("sha256", ""));
  row("bundle path", context.value("bundle", json::object()).value("path", ""));
  row("method", method_label(run));
  row("method state", context.value("parameters", json::object()).value("method_state", ""));
  if (context.contains("parameters")) {
    json params = context["parameters"];
    const json method_params = params.value("method_parameters", json::object());
    params.erase("method_parameters");
    params.erase("method_coverage");
    params.erase("method_state");
    row("parameters", text_of(params));
    if (!method_params.empty()) row("method parameters", text_of(method_params));
  }
  if (context.contains("fewshot")) row("few-shot", text_of(context["fewshot"]));
  row("input", context.value("input", ""));
  row("image store", context.value("image_store", ""));
  row("class store", context.value("class_store", ""));
  row("classes file", context.value("classes_file", ""));
  row("templates file", context.value("templates_file", ""));
  row("split", run.split);
  if (context.contains("hardware")) row("hardware", text_of(context["hardware"]));
  row("clipzs", context.value("clipzs_version", ""));
  row("evaluated", context.value("created", ""));
  h += "</table>\n";
  h += "<details><summary>Results files in this report: " + html_escape(data.counted()) + "</summary>\n<table><tr><th>file</th>"
       "<th>dataset</th><th>method</th><th class=\"n\">top-1 %</th></tr>\n";
  for (const auto& r : data.runs)
    h += "<tr><td><code>" + html_escape(r.source) + "</code></td><td>" + html_escape(r.dataset) + "</td><td>" +
         html_escape(method_label(r)) + (r.fewshot && r.seed ? " seed " + std::to_string(r.seed) : "") +
         "</td><td class=\"n\">" + pct(r.acc1) + "</td></tr>\n";
  h += "</table>\n</details>\n";
}

// report.html: one self-contained page, the charts inlined, the notes shown at the end (not folded).
std::string html_page(const ReportData& data, const ReportCharts& charts, const std::string& heat_title,
                      const std::vector<std::string>& notes) {
  std::string h;
  html_head(data, h);
  html_headline(data, h);
  html_per_class(data, charts, h);
  html_confusions(data, charts, heat_title, h);
  html_methods_and_curves(data, charts, h);
  html_run_context(data, h);
  for (const auto& note : notes) h += "<p>Note: " + html_escape(note) + "</p>\n";
  h += "</main>\n</body>\n</html>\n";
  return h;
}

// ---- the report folder -----------------------------------------------------------------------------

// Reads the results, then writes the charts, summary.md and report.html into a temporary folder that
// replaces `dir` as a whole once everything is written (FolderWriter).
ReportFiles write_report_body(const std::vector<json>& results, const std::vector<std::string>& sources, size_t primary,
                              const std::string& dir, const ReportOptions& options) {
  ReportFiles files;
  ReportData data = read_report_data(results, sources, primary, options, files.notes);

  check_report_folder(dir, sources);
  FolderWriter folder(dir);
  const fs::path tmp(folder.temp());
  fs::create_directories(tmp / "charts");
  files.dir = dir;
  ReportCharts charts(tmp, dir, files.charts);
  draw_recall_charts(data, options, charts);
  const std::string heat_title = draw_confusion_chart(data, options, charts);
  MethodColours method_colour(options.method_order);  // one method, one colour, in every chart
  draw_method_chart(data, method_colour, charts);
  data.curve_charts = draw_fewshot_charts(data, method_colour, charts);

  write_file_atomic((tmp / "summary.md").string(), markdown_summary(data, files.notes));
  write_file_atomic((tmp / "report.html").string(), html_page(data, charts, heat_title, files.notes));
  folder.commit();
  files.html = (fs::path(dir) / "report.html").string();
  files.markdown = (fs::path(dir) / "summary.md").string();
  return files;
}

}  // namespace

ReportFiles write_eval_report(const std::vector<json>& results, const std::vector<std::string>& sources, size_t primary,
                              const std::string& dir, const ReportOptions& options) {
  try {
    return write_report_body(results, sources, primary, dir, options);
  } catch (const json::exception& e) {
    // Past reading, only the primary result's own fields (context, counts) are read.
    throw Error(ErrorKind::kInput, "'" + sources[primary] + "' has a field of an unexpected type: " + e.what(),
                "pass results JSON files written by `" + call("eval") + " " + param("out") + "`");
  }
}

}  // namespace clipzs
