// Chart drawing for the evaluation report: PNG bytes from plain data. OpenCV draws; text goes through
// FreeType (DejaVu Sans) when OpenCV's freetype module and the font are there, else OpenCV's Hershey
// font (ASCII only). Everything is drawn at twice the size it is shown at, so it stays sharp on
// high-density screens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clipzs::report_detail {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// A colour for a value in [0, 1] on a red-yellow-green ramp (recall).
Rgb recall_colour(double v);
// The i-th colour of a qualitative palette (methods).
Rgb palette(size_t i);

struct BarRow {
  std::string label;
  double value = 0;         // in the chart's unit (percent)
  double spread = -1;       // +- whisker (std over seeds); < 0: none
  std::string annotation;   // written after the bar
  Rgb colour{70, 120, 180};
  bool heading = false;     // a group title row (no bar)
  bool gap = false;         // a "..." row between the worst and the best classes
};

// Horizontal bars from 0 to `max_value`; a dashed reference line at `reference` (< 0: none).
std::string bar_chart_png(const std::string& title, const std::vector<BarRow>& rows, double max_value, double reference,
                          const std::string& reference_label, const std::string& axis_label);

// Values in [0, 1] sorted ascending, drawn as a filled curve over their rank, with a reference line.
std::string sorted_curve_png(const std::string& title, const std::vector<double>& sorted_values, double reference,
                             const std::string& reference_label);

struct HeatCell {
  int row = 0, col = 0;
  int rank = 0;  // 1-based rank of a top confusion (outlined and numbered)
};
// `values` rows x cols in [0, 1] (row-normalised), `counts` the raw counts written in large cells.
std::string heatmap_png(const std::string& title, const std::vector<std::string>& labels, const std::vector<double>& values,
                        const std::vector<int64_t>& counts, const std::vector<HeatCell>& marked);

struct Curve {
  std::string label;
  std::vector<double> x;       // shots (drawn on a log2 axis)
  std::vector<double> y;       // accuracy, percent
  std::vector<double> spread;  // +- std, percent (empty or < 0: none)
  int colour = -1;             // palette index (a method keeps its colour across charts); < 0: the curve's position
};
// Accuracy against shots; `baseline` >= 0 draws a dashed horizontal line labelled `baseline_label`.
std::string curves_png(const std::string& title, const std::vector<Curve>& curves, double baseline,
                       const std::string& baseline_label);

}  // namespace clipzs::report_detail
