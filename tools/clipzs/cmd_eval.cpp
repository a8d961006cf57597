// `clipzs eval`: accuracy of a classifier on a labelled image set, one results JSON per run in
// CLIP_benchmark's metric names, and on request a report (HTML page, charts, Markdown); `clipzs eval
// summarize` turns many results into a CSV and a table, `clipzs eval report` into one report.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "classify_common.hpp"
#include "clipzs/methods/method.hpp"
#include "clipzs/store/dataset.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/util/metrics.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/report/report.hpp"

namespace clipzs::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string hostname() {
  char buffer[256] = {0};
  return ::gethostname(buffer, sizeof buffer - 1) == 0 ? buffer : "unknown";
}

std::string fixed(double v, int digits) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}
std::string fmt4(double v) { return fixed(v, 4); }
std::string pct(double v) { return fixed(100 * v, 2); }

void summarize(const std::vector<std::string>& files, const std::string& csv_out, const std::string& md_out) {
  if (files.empty()) throw Error(ErrorKind::kUsage, "give results JSON files to summarize");
  std::string csv = "file,dataset,model,pretrained,method,split,acc1,acc5,mean_per_class_recall,evaluated\n";
  std::string md = "| dataset | model | method | split | acc1 % | acc5 % | mean per-class recall % | n |\n|---|---|---|---|---:|---:|---:|---:|\n";
  for (const auto& f : files) {
    json r;
    try {
      r = json::parse(read_file(f));
      const json& m = r.at("metrics");
      const json& c = r.value("context", json::object());
      const std::string method = c.value("method", "zeroshot"), split = c.value("split", "");
      csv += f + "," + r.value("dataset", "") + "," + r.value("model", "") + "," + r.value("pretrained", "") + "," + method + "," +
             split + "," + fmt4(m.at("acc1").get<double>()) + "," + fmt4(m.at("acc5").get<double>()) + "," +
             fmt4(m.at("mean_per_class_recall").get<double>()) + "," + std::to_string(r.value("counts", json::object()).value("evaluated", 0)) + "\n";
      md += "| " + r.value("dataset", "") + " | " + r.value("model", "") + " | " + method + " | " + split + " | " +
            pct(m.at("acc1").get<double>()) + " | " + pct(m.at("acc5").get<double>()) + " | " +
            pct(m.at("mean_per_class_recall").get<double>()) + " | " +
            std::to_string(r.value("counts", json::object()).value("evaluated", 0)) + " |\n";
    } catch (const json::exception& e) {
      throw Error(ErrorKind::kInput, "'" + f + "' is not a clipzs eval results file: " + e.what());
    }
  }
  if (!csv_out.empty()) write_file_atomic(csv_out, csv);
  if (!md_out.empty()) write_file_atomic(md_out, md);
  if (md_out.empty()) std::fwrite(md.data(), 1, md.size(), stdout);
  if (!csv_out.empty() || !md_out.empty())
    spdlog::info("{} results summarised{}{}", files.size(), csv_out.empty() ? "" : " into " + csv_out,
                 md_out.empty() ? "" : " and " + md_out);
}

json read_results_file(const std::string& path) {
  json r = json::parse(read_file(path), nullptr, false);
  if (r.is_discarded() || !r.is_object() || !r.contains("metrics"))
    throw Error(ErrorKind::kInput, "'" + path + "' is not a clipzs eval results file", "pass files written by `clipzs eval --out`");
  return r;
}

// The report of `results` (sources[i] read from), logged and returned for the JSON summary.
json write_report(const std::vector<json>& results, const std::vector<std::string>& sources, size_t primary,
                  const std::string& dir, const std::string& title) {
  ReportOptions options;
  options.title = title;
  options.method_order.clear();
  for (const auto& e : method_registry()) options.method_order.push_back(e.name);
  const ReportFiles files = write_eval_report(results, sources, primary, dir, options);
  for (const auto& note : files.notes) spdlog::warn("report: {}", note);
  spdlog::info("report: {} ({} charts), summary {}", files.html, files.charts.size(), files.markdown);
  json written = {{"dir", files.dir}, {"html", files.html}, {"markdown", files.markdown}, {"charts", files.charts}};
  if (!files.notes.empty()) written["notes"] = files.notes;
  return written;
}

// `eval summarize` and `eval report` fall through to eval's options for the global ones; an option of
// eval itself given to them would be ignored silently, so it is refused by name.
void refuse_eval_options(const CLI::App* eval, const std::string& subcommand) {
  for (const CLI::Option* opt : eval->get_options())
    if (opt->count() > 0)
      throw Error(ErrorKind::kUsage, "`clipzs eval " + subcommand + "` does not take " + opt->get_name() + " (an option of `clipzs eval`)",
                  "see `clipzs eval " + subcommand + " --help`");
}


struct SummarizeCli {
  std::vector<std::string> files;
  std::string csv_out, md_out;
  void run() const;
};

void SummarizeCli::run() const {
  summarize(files, csv_out, md_out);
}


struct ReportCli {
  std::vector<std::string> report_files;
  std::string report_out, primary_file, report_title;
  void run() const;
};

void ReportCli::run() const {
  std::vector<json> results;
  size_t primary = 0;
  for (size_t i = 0; i < report_files.size(); ++i) {
    results.push_back(read_results_file(report_files[i]));
    if (!primary_file.empty() && fs::equivalent(report_files[i], primary_file)) primary = i;
  }
  if (!primary_file.empty() && !fs::equivalent(report_files[primary], primary_file))
    throw Error(ErrorKind::kUsage, "--primary '" + primary_file + "' is not among the results files");
  const json written = write_report(results, report_files, primary, report_out, report_title);
  print_summary({{"command", "eval report"}, {"results", report_files.size()}, {"report", written}});
}


struct EvalCli {
  ClassifyOptions o;
  std::string out, dataset_name;
  LabelRule label_rule = LabelRule::kAuto;
  bool skip_existing = false;
  std::string report_dir, report_title;
  std::vector<std::string> report_with;
  void run() const;
};

void EvalCli::run() const {
  if (out.empty()) throw Error(ErrorKind::kUsage, "--out is required");
  // Read before the long part, so a bad file fails now rather than after the evaluation.
  std::vector<json> others;
  for (const auto& f : report_with) others.push_back(read_results_file(f));
  if (!report_with.empty() && report_dir.empty())
    throw Error(ErrorKind::kUsage, "--report-with needs --report DIR");
  if (!report_dir.empty()) {
    std::vector<std::string> keep{out, o.input, o.store, o.image_store, o.coop_split, o.model, o.state, o.classes, o.templates};
    keep.insert(keep.end(), report_with.begin(), report_with.end());
    check_report_folder(report_dir, keep);
  }
  // This run's results first (the primary), then the --report-with files.
  auto report_with_others = [this, &others](const json& primary) {
    std::vector<json> results{primary};
    std::vector<std::string> sources{out};
    results.insert(results.end(), others.begin(), others.end());
    sources.insert(sources.end(), report_with.begin(), report_with.end());
    return write_report(results, sources, 0, report_dir, report_title);
  };
  if (skip_existing && fs::exists(out)) {
    json previous = json::parse(read_file(out), nullptr, false);
    if (!previous.is_discarded() && previous.contains("metrics")) {
      spdlog::info("{} exists, skipped (--skip-existing)", out);
      json summary = {{"command", "eval"}, {"out", out}, {"skipped", true}, {"metrics", previous["metrics"]}};
      // A rerun sweep still gets its report, from the results already there.
      if (!report_dir.empty()) summary["report"] = report_with_others(previous);
      print_summary(summary);
      return;
    }
    spdlog::warn("{} exists but is not a results file; evaluating again", out);
  }
  ClassifyData d = load_classify_data(o);
  std::vector<std::string> labels, paths;
  for (const auto& r : d.images.records) {
    labels.push_back(r.value("label", ""));
    paths.push_back(r.value("path", ""));
  }
  ResolvedLabels resolved = resolve_labels(labels, paths, d.classnames, label_rule);
  for (const auto& w : resolved.warnings) spdlog::warn("{}", w);
  const auto start = std::chrono::steady_clock::now();
  const int64_t c = static_cast<int64_t>(d.classnames.size());
  Predictions p = classify(d, 5);
  ClassificationMetrics m = compute_metrics(resolved.ids, p, c);
  // Per-image methods keep their ablations: report them side by side with the method.
  json compare = json::object();
  auto add_compared = [&compare](const std::string& name, const ClassificationMetrics& v) {
    compare[name] = {{"acc1", v.acc1}, {"acc5", v.acc5}, {"mean_per_class_recall", v.mean_per_class_recall}, {"evaluated", v.evaluated}};
  };
  const std::vector<std::string> ablations = d.method->variants();
  if (!ablations.empty()) add_compared(o.method, m);  // the method itself beside its ablations
  for (const auto& variant : ablations) add_compared(variant, compute_metrics(resolved.ids, classify(d, 5, variant), c));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t failed = d.unreadable();
  if (failed) spdlog::warn("{} images could not be read and are not evaluated", failed);

  const json state = d.method->record().is_object() ? d.method->record() : json::object();
  const bool fewshot = find_method(o.method).kind == MethodKind::kFewShot;
  json per_class = json::array();
  json confusion = json::array();
  for (int64_t i = 0; i < c; ++i) {
    per_class.push_back({{"class", d.classnames[static_cast<size_t>(i)]},
                         {"count", m.class_count[static_cast<size_t>(i)]},
                         {"recall", m.per_class_recall[static_cast<size_t>(i)]}});
    confusion.push_back(std::vector<int64_t>(m.confusion.begin() + i * c, m.confusion.begin() + (i + 1) * c));
  }
  std::string name = !dataset_name.empty() ? dataset_name : !o.dataset.empty() ? o.dataset
                   : fs::path(!o.input.empty() ? o.input : !o.store.empty() ? o.store : o.coop_split).filename().string();
  json result = {
      {"dataset", name},
      {"model", d.bundle.name},
      {"pretrained", d.bundle.source},
      // Label-free methods (InMaP, X-MoRe, TransCLIP) see no labels: still zero-shot.
      {"task", fewshot ? "fewshot_classification" : "zeroshot_classification"},
      {"language", "en"},
      {"metrics", {{"acc1", m.acc1}, {"acc5", m.acc5}, {"mean_per_class_recall", m.mean_per_class_recall}}},
      {"counts", {{"rows", p.rows}, {"evaluated", m.evaluated}, {"unreadable", failed}, {"classes", c}}},
      {"per_class", per_class},
      {"compare", compare},
      {"confusion_matrix", confusion},
      {"context",
       {{"tool", "clipzs"},
        {"clipzs_version", CLIPZS_VERSION},
        {"created", utc_timestamp()},
        {"bundle", {{"name", d.bundle.name}, {"sha256", d.bundle.bundle_sha256}, {"path", o.model}}},
        {"method", o.method},
        {"cli", effective_options()},
        {"parameters", {{"logit_scale", d.method->logit_scale()}, {"model_dtype", o.runtime.dtype}, {"label_rule", label_rule_name(resolved.rule)},
                        {"method_state", o.state}, {"method_parameters", state.value("parameters", json::object())},
                        {"method_coverage", state.value("coverage", json::object())}}},
        {"classes_file", o.classes},
        {"templates_file", o.templates},
        {"dataset_key", o.dataset},
        {"split", o.coop_split.empty() ? "" : o.split},
        {"input", !o.input.empty() ? o.input : !o.store.empty() ? o.store : o.coop_split},
        {"image_store", d.image_store},
        {"class_store", d.text_store},
        {"classify_seconds", seconds},
        {"hardware", {{"host", hostname()}, {"cpu", cpu_model()}, {"cores", std::thread::hardware_concurrency()},
                      {"device", o.runtime.device}, {"torch", torch_build_info()}}}}},
  };
  if (fewshot)  // what the state was trained on; never the test set
    result["context"]["fewshot"] = {{"shots", state.value("shots", 0)}, {"seed", state.value("seed", 0)},
                                    {"train_store", state.value("train_store", json::object()).value("path", "")},
                                    {"val_store", state.value("val_store", json::object()).value("path", "")}};
  if (fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path());
  write_file_atomic(out, result.dump(1) + "\n");
  json summary = {{"command", "eval"}, {"out", out}, {"metrics", result["metrics"]}, {"evaluated", m.evaluated}};
  if (!compare.empty()) summary["compare"] = compare;
  if (!report_dir.empty()) summary["report"] = report_with_others(result);
  print_summary(summary);
}

}  // namespace

void register_eval(CLI::App& app, Action& action) {
  auto cli = std::make_shared<EvalCli>();
  CLI::App* sub = app.add_subcommand("eval", "Accuracy on a labelled image set (acc1, acc5, mean per-class recall)");
  add_classify_options(sub, cli->o);
  sub->add_option("--out", cli->out, "Results JSON file");
  add_label_rule_flag(sub, cli->label_rule);
  sub->add_option("--dataset-name", cli->dataset_name, "Dataset name in the results (default: --dataset, else the input's name)");
  sub->add_flag("--skip-existing", cli->skip_existing, "Do nothing if --out already holds a results file");
  sub->add_option("--report", cli->report_dir, "Also write a report folder: report.html (self-contained), summary.md, charts/*.png");
  sub->add_option("--report-with", cli->report_with, "Other results JSON files to compare with in the report (methods, few-shot K)")
      ->check(CLI::ExistingFile);
  sub->add_option("--report-title", cli->report_title, "Report title (default: dataset, model, method)");

  auto summarize_cli = std::make_shared<SummarizeCli>();
  CLI::App* summary = sub->add_subcommand("summarize", "Merge results JSON files into a CSV and a Markdown table");
  summary->add_option("files", summarize_cli->files, "Results JSON files")->required();
  summary->add_option("--csv", summarize_cli->csv_out, "CSV output");
  summary->add_option("--markdown", summarize_cli->md_out, "Markdown output (default: stdout)");
  summary->callback([&action, summarize_cli, sub] {
    action = [summarize_cli, sub] {
      refuse_eval_options(sub, "summarize");
      summarize_cli->run();
    };
  });

  auto report_cli = std::make_shared<ReportCli>();
  CLI::App* report = sub->add_subcommand("report", "One report (HTML, charts, Markdown) from results JSON files, e.g. a sweep's");
  report->add_option("files", report_cli->report_files, "Results JSON files (clipzs eval --out)")->required()->check(CLI::ExistingFile);
  report->add_option("--out", report_cli->report_out, "Report folder (replaced as a whole)")->required();
  report->add_option("--primary", report_cli->primary_file, "The result whose per-class recall and confusions are drawn (default: the first)")
      ->check(CLI::ExistingFile);
  report->add_option("--title", report_cli->report_title, "Report title (default: dataset, model, method of the primary result)");
  report->callback([&action, report_cli, sub] {
    action = [report_cli, sub] {
      refuse_eval_options(sub, "report");
      report_cli->run();
    };
  });

  sub->callback([&action, cli, summary, report] {
    if (summary->parsed() || report->parsed()) return;
    action = [cli] { cli->run(); };
  });
}

}  // namespace clipzs::cli
