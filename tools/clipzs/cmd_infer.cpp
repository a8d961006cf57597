// `clipzs infer`: label images with their top-k classes and probabilities.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "classify_common.hpp"
#include "clipzs/util/files.hpp"

namespace clipzs::cli {
namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Names from "a,b,c" or "@file" (one per line).
std::vector<std::string> parse_subset(const std::string& spec) {
  std::vector<std::string> out;
  std::string text = spec;
  char sep = ',';
  if (!spec.empty() && spec[0] == '@') {
    text = read_file(spec.substr(1));
    sep = '\n';
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    std::string item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    while (!item.empty() && (item.back() == '\r' || item.back() == ' ')) item.pop_back();
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    if (!item.empty()) out.push_back(item);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}


struct InferCli {
  ClassifyOptions o;
  std::string out, subset;
  int top_k = 5;
  double threshold = 0.0;
  void run() const;
};

void InferCli::run() const {
  ClassifyData d = load_classify_data(o);
  std::vector<std::string> names = d.classnames;
  std::vector<int64_t> keep;
  if (!subset.empty() && !d.method->class_proxies())
    throw Error(ErrorKind::kUsage, "--subset needs a classifier of class proxies alone (zeroshot, inmap); --method " + o.method + " is not",
                "run `clipzs adapt " + o.method + "` with a class store of the subset instead");
  if (!subset.empty()) {
    for (const auto& name : parse_subset(subset)) {
      auto it = std::find(d.classnames.begin(), d.classnames.end(), name);
      if (it == d.classnames.end())
        throw Error(ErrorKind::kInput, "--subset class '" + name + "' is not in the class list " + o.classes);
      keep.push_back(it - d.classnames.begin());
    }
    names.clear();
    for (int64_t k : keep) names.push_back(d.classnames[static_cast<size_t>(k)]);
  }
  Predictions p = classify(d, top_k, "", subset.empty() ? nullptr : &keep);
  const bool csv = out.size() >= 4 && out.compare(out.size() - 4, 4, ".csv") == 0;
  std::string text;
  if (csv) {
    text = "index,path,label,status,prediction,probability";
    for (int64_t j = 0; j < p.k; ++j) text += ",top" + std::to_string(j + 1) + ",p" + std::to_string(j + 1);
    text += ",error\n";  // why an error row has no prediction (empty on ok rows), as in the JSONL
  }
  int64_t unknown = 0, failed = 0;
  for (int64_t i = 0; i < p.rows; ++i) {
    const auto& r = d.images.records[static_cast<size_t>(i)];
    const int64_t* top = p.top_index.data() + i * p.k;
    const float* prob = p.top_prob.data() + i * p.k;
    std::string status = r.value("status", "ok");
    std::string prediction;
    if (status == "ok") {
      prediction = prob[0] < threshold ? "unknown" : names[static_cast<size_t>(top[0])];
      unknown += prediction == "unknown";
    } else {
      ++failed;
    }
    if (csv) {
      text += std::to_string(i) + "," + csv_field(r.value("path", "")) + "," + csv_field(r.value("label", "")) + "," +
              status + "," + csv_field(prediction) + "," + (status == "ok" ? std::to_string(prob[0]) : "");
      for (int64_t j = 0; j < p.k; ++j)
        text += "," + (status == "ok" ? csv_field(names[static_cast<size_t>(top[j])]) + "," + std::to_string(prob[j]) : ",");
      text += "," + csv_field(status == "ok" ? std::string() : r.value("error", "")) + "\n";
    } else {
      nlohmann::json row = {{"index", i}, {"path", r.value("path", "")}, {"label", r.value("label", "")}, {"status", status}};
      if (status == "ok") {
        row["prediction"] = prediction;
        row["probability"] = prob[0];
        nlohmann::json top_list = nlohmann::json::array();
        for (int64_t j = 0; j < p.k; ++j) top_list.push_back({{"class", names[static_cast<size_t>(top[j])]}, {"probability", prob[j]}});
        row["top"] = top_list;
      } else {
        row["error"] = r.value("error", "");
      }
      text += row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
  }
  nlohmann::json summary = {{"command", "infer"}, {"rows", p.rows}, {"classes", names.size()}, {"unknown", unknown},
                            {"errors", failed}, {"image_store", d.image_store}, {"class_store", d.text_store}};
  if (out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    spdlog::info("{}", summary.dump());
  } else {
    write_file_atomic(out, text);
    summary["out"] = out;
    print_summary(summary);
  }
}

}  // namespace

void register_infer(CLI::App& app, Action& action) {
  auto cli = std::make_shared<InferCli>();
  CLI::App* sub = app.add_subcommand("infer", "Label images with their most likely classes");
  add_classify_options(sub, cli->o);
  sub->add_option("--out", cli->out, "Output file: .csv or .jsonl (default: JSONL on stdout)");
  sub->add_option("--top-k", cli->top_k, "Classes per image")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--threshold", cli->threshold, "Top-1 probability below which the label is 'unknown'")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--subset", cli->subset, "Only these classes: 'a,b,c' or @file with one name per line");
  sub->callback([&action, cli] {
    action = [cli] { cli->run(); };
  });
}

}  // namespace clipzs::cli
