// Evaluation reports: what `clipzs eval --report DIR` and `clipzs eval report` write from results JSON
// files (the ones `clipzs eval --out` writes).
//
//   DIR/report.html   one self-contained page (charts inlined as PNG data URIs, no scripts, no external
//                     files): headline metrics, per-class recall, confusion heat map with the top
//                     confusions named, method comparison, few-shot accuracy vs K, the run's context
//   DIR/summary.md    the same figures as Markdown tables, for CI job logs
//   DIR/charts/*.png  the charts on their own (per_class_recall.png, recall_sorted.png when there are
//                     more classes than fit one chart, confusion.png, methods.png, and per dataset (and
//                     model, when several) fewshot_<dataset>[_<model>].png)
// DIR is written as a whole: into a temporary sibling, renamed into place last (FolderWriter). Because
// that replaces DIR, DIR must be new, empty, or a previous report (report.html, summary.md, charts/*.png
// and nothing else), and not a symbolic link; `check_report_folder` says so before any work is done.
//
// The "primary" result gives the per-class and confusion charts and the context; every result takes
// part in the method comparison (per dataset: one bar per method; few-shot methods at their largest K,
// mean +- std over seeds; the "compare" ablations of a result, e.g. X-MoRe's image-only and
// caption-only predictions, as bars of their own) and, when it is a few-shot result with a shot count,
// in the accuracy-vs-K curves. A file given twice, or a second file of one few-shot method, K and seed,
// is counted once (ReportFiles::notes says which); a dataset evaluated on several splits, or a model
// name with several weights, is shown as "<dataset> (<split>)", "<model> (<weights>)".
//
// Failure modes: Error(kInput) naming the file (`sources[i]`) and field when a result lacks what the
// report needs; Error(kOutput) when DIR cannot be written.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace clipzs {

struct ReportOptions {
  std::string title;          // empty: "<dataset> · <model> · <method>" of the primary result
  int top_confusions = 10;    // named in the page and outlined on the heat map
  int max_bar_classes = 40;   // more classes: the worst and best half of this many, plus recall_sorted.png
  int max_heatmap_classes = 30;  // more classes: the classes of the top confusions only
  // Methods in the order charts list them, each with its own colour (callers pass the method
  // registry's order, method_registry() in method.hpp); others follow in order of appearance.
  std::vector<std::string> method_order = {"zeroshot", "inmap", "xmore", "transclip", "linear-probe", "tip-adapter", "tip-adapter-f", "relation"};
};

struct ReportFiles {
  std::string dir;
  std::string html;
  std::string markdown;
  std::vector<std::string> charts;  // paths of the PNG files written
  std::vector<std::string> notes;   // results left out of the counts (a file given twice, a repeated K and seed)
};

// Refuses (Error(kUsage), naming the entry and what to do) a DIR that is not a report folder to replace:
// '/', the working folder or one above it, a file, a folder holding anything but a previous report, or
// one that holds (or would hold) any of `keep` (the results files, the --out file). Called by
// write_eval_report with its sources; callers call it first too, so that a long evaluation is not run
// only to be refused its report.
void check_report_folder(const std::string& dir, const std::vector<std::string>& keep = {});

// results[i] was read from sources[i] (named in messages and listed in the page).
ReportFiles write_eval_report(const std::vector<nlohmann::json>& results, const std::vector<std::string>& sources,
                              size_t primary, const std::string& dir, const ReportOptions& options = {});

// Chart rendering is also used on its own by tests: `png_size` reads width and height from a PNG's
// IHDR (0, 0 when the bytes are not a PNG).
struct PngSize {
  int width = 0;
  int height = 0;
};
PngSize png_size(const std::string& bytes);

}  // namespace clipzs
