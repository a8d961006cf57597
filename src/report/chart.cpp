#include "report/chart.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#ifdef CLIPZS_HAVE_FREETYPE
#include <opencv2/freetype.hpp>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include "clipzs/util/error.hpp"

namespace clipzs::report_detail {
namespace {

constexpr int S = 2;  // drawing scale: charts are shown at half their pixel size

cv::Scalar bgr(Rgb c) { return cv::Scalar(c.b, c.g, c.r); }
const Rgb kInk{33, 37, 41}, kMuted{108, 117, 125}, kGrid{222, 226, 230}, kWhite{255, 255, 255};

#ifdef CLIPZS_HAVE_FREETYPE
// One FreeType face for the process; FreeType2 is not safe to use from two threads at once.
std::mutex g_font_mutex;
cv::Ptr<cv::freetype::FreeType2> font() {
  static cv::Ptr<cv::freetype::FreeType2> ft = [] {
    cv::Ptr<cv::freetype::FreeType2> f;
    for (const char* path : {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"}) {
      if (!std::filesystem::exists(path)) continue;
      try {
        f = cv::freetype::createFreeType2();
        f->loadFontData(path, 0);
        return f;
      } catch (const cv::Exception&) {
        f.release();
      }
    }
    return f;
  }();
  return ft;
}
#endif

std::string ascii_only(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += c < 0x80 ? static_cast<char>(c) : (c >= 0xC0 ? '?' : '\0');
  out.erase(std::remove(out.begin(), out.end(), '\0'), out.end());
  return out;
}

enum class Align { kLeft, kCentre, kRight };

class Canvas {
 public:
  Canvas(int width, int height) : m_(height * S, width * S, CV_8UC3, bgr(kWhite)) {}
  // Sizes and positions are in display pixels; text is placed by the vertical middle of its capitals.
  int text_width(const std::string& s, int px) const {
#ifdef CLIPZS_HAVE_FREETYPE
    if (auto f = font()) {
      std::lock_guard<std::mutex> lock(g_font_mutex);
      int base = 0;
      return f->getTextSize(s, px * S, -1, &base).width / S;
    }
#endif
    int base = 0;
    return cv::getTextSize(ascii_only(s), cv::FONT_HERSHEY_SIMPLEX, hershey_scale(px), 1, &base).width / S;
  }
  void text(const std::string& s, int x, int y_mid, int px, Rgb colour, Align align = Align::kLeft) {
    const int w = text_width(s, px);
    const int left = align == Align::kLeft ? x : align == Align::kCentre ? x - w / 2 : x - w;
#ifdef CLIPZS_HAVE_FREETYPE
    if (auto f = font()) {
      // FreeType2::putText places the top of the em box at org.y; capitals' middle is ~0.64 em below.
      std::lock_guard<std::mutex> lock(g_font_mutex);
      f->putText(m_, s, cv::Point(left * S, y_mid * S - static_cast<int>(0.64 * px * S)), px * S, bgr(colour), -1,
                 cv::LINE_AA, false);
      return;
    }
#endif
    const double scale = hershey_scale(px);
    int base = 0;
    const cv::Size size = cv::getTextSize(ascii_only(s), cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base);
    cv::putText(m_, ascii_only(s), cv::Point(left * S, y_mid * S + size.height / 2), cv::FONT_HERSHEY_SIMPLEX, scale,
                bgr(colour), std::max(1, S), cv::LINE_AA);
  }
  // The longest prefix of `s` (whole UTF-8 characters) that fits `width`, with an ellipsis when cut.
  std::string fit(const std::string& s, int px, int width) const {
    if (text_width(s, px) <= width) return s;
    std::string cut = s;
    while (!cut.empty()) {
      do cut.pop_back();
      while (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xC0) == 0x80);
      if (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xC0) == 0xC0) cut.pop_back();
      if (text_width(cut + "\u2026", px) <= width) return cut + "\u2026";
    }
    return "";
  }
  void rect(int x, int y, int w, int h, Rgb colour, int thickness = -1) {
    cv::rectangle(m_, cv::Rect(x * S, y * S, std::max(1, w * S), std::max(1, h * S)), bgr(colour),
                  thickness < 0 ? cv::FILLED : thickness * S, cv::LINE_AA);
  }
  void line(double x0, double y0, double x1, double y1, Rgb colour, int thickness = 1) {
    cv::line(m_, cv::Point2d(x0 * S, y0 * S), cv::Point2d(x1 * S, y1 * S), bgr(colour), thickness * S, cv::LINE_AA);
  }
  void dashed(double x0, double y0, double x1, double y1, Rgb colour, int thickness = 1) {
    const double len = std::hypot(x1 - x0, y1 - y0);
    for (double t = 0; t < len; t += 10) {
      const double a = t / len, b = std::min(len, t + 6) / len;
      line(x0 + a * (x1 - x0), y0 + a * (y1 - y0), x0 + b * (x1 - x0), y0 + b * (y1 - y0), colour, thickness);
    }
  }
  void circle(double x, double y, int r, Rgb colour) {
    cv::circle(m_, cv::Point2d(x * S, y * S), r * S, bgr(colour), cv::FILLED, cv::LINE_AA);
  }
  void polygon(const std::vector<cv::Point2d>& points, Rgb colour) {
    std::vector<cv::Point> p;
    for (const auto& q : points) p.emplace_back(static_cast<int>(q.x * S), static_cast<int>(q.y * S));
    cv::fillPoly(m_, std::vector<std::vector<cv::Point>>{p}, bgr(colour), cv::LINE_AA);
  }
  std::string png() const {
    std::vector<uchar> bytes;
    if (!cv::imencode(".png", m_, bytes, {cv::IMWRITE_PNG_COMPRESSION, 9}))
      throw Error(ErrorKind::kInternal, "PNG encoding of a report chart failed");
    return std::string(bytes.begin(), bytes.end());
  }

 private:
  static double hershey_scale(int px) { return px * S / 30.0; }
  cv::Mat m_;
};

Rgb mix(Rgb a, Rgb b, double t) {
  t = std::clamp(t, 0.0, 1.0);
  auto m = [t](uint8_t x, uint8_t y) { return static_cast<uint8_t>(std::lround(x + (y - x) * t)); };
  return {m(a.r, b.r), m(a.g, b.g), m(a.b, b.b)};
}

std::string percent(double v, int digits = 1) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f%%", digits, v);
  return b;
}

void title_block(Canvas& c, const std::string& title, int width) {
  c.text(c.fit(title, 17, width - 40), 20, 22, 17, kInk);
}

}  // namespace

Rgb recall_colour(double v) {
  const Rgb red{215, 48, 39}, yellow{240, 190, 60}, green{26, 152, 80};
  return v < 0.5 ? mix(red, yellow, v / 0.5) : mix(yellow, green, (v - 0.5) / 0.5);
}

Rgb palette(size_t i) {
  static const Rgb colours[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
                                {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return colours[i % (sizeof colours / sizeof colours[0])];
}

std::string bar_chart_png(const std::string& title, const std::vector<BarRow>& rows, double max_value, double reference,
                          const std::string& reference_label, const std::string& axis_label) {
  const int width = 1000, row_h = 24, top = 64, bottom = 46, label_px = 13;
  const int height = top + row_h * static_cast<int>(rows.size()) + bottom;
  Canvas c(width, height);
  title_block(c, title, width);
  int label_w = 0;
  for (const auto& r : rows) label_w = std::max(label_w, c.text_width(r.label, label_px));
  label_w = std::min(label_w, 360);
  const int x0 = 20 + label_w + 12, x1 = width - 190;
  const double scale = (x1 - x0) / std::max(1e-9, max_value);
  // Grid and axis.
  for (int i = 0; i <= 4; ++i) {
    const double v = max_value * i / 4.0;
    const double x = x0 + v * scale;
    c.line(x, top - 6, x, top + row_h * static_cast<double>(rows.size()), kGrid);
    c.text(percent(v, 0), static_cast<int>(x), height - bottom + 16, 12, kMuted, Align::kCentre);
  }
  c.text(axis_label, (x0 + x1) / 2, height - 12, 12, kMuted, Align::kCentre);
  // The reference line goes under the bars and their labels.
  if (reference >= 0) {
    const double x = x0 + reference * scale;
    c.dashed(x, top - 10, x, top + row_h * static_cast<double>(rows.size()), kInk, 1);
    c.text(reference_label, static_cast<int>(x) + 6, top - 14, 12, kInk);
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const BarRow& r = rows[i];
    const int y = top + row_h * static_cast<int>(i);
    const int mid = y + row_h / 2;
    if (r.heading) {
      c.text(c.fit(r.label, 14, width - 40), 20, mid, 14, kInk);
      continue;
    }
    if (r.gap) {
      c.text(r.label, x0, mid, 12, kMuted);
      continue;
    }
    c.text(c.fit(r.label, label_px, label_w), x0 - 10, mid, label_px, kInk, Align::kRight);
    const double w = std::clamp(r.value, 0.0, max_value) * scale;
    c.rect(x0, y + 4, std::max(1, static_cast<int>(std::lround(w))), row_h - 8, r.colour);
    double end = x0 + w;
    if (r.spread > 0) {
      const double lo = x0 + std::max(0.0, r.value - r.spread) * scale, hi = x0 + std::min(max_value, r.value + r.spread) * scale;
      c.line(lo, mid, hi, mid, kInk);
      c.line(lo, mid - 5, lo, mid + 5, kInk);
      c.line(hi, mid - 5, hi, mid + 5, kInk);
      end = std::max(end, hi);
    }
    c.rect(static_cast<int>(end) + 4, mid - 8, c.text_width(r.annotation, 12) + 8, 16, kWhite);
    c.text(r.annotation, static_cast<int>(end) + 8, mid, 12, kInk);
  }
  return c.png();
}

std::string sorted_curve_png(const std::string& title, const std::vector<double>& v, double reference,
                             const std::string& reference_label) {
  const int width = 1000, height = 320, left = 70, right = 30, top = 56, bottom = 50;
  Canvas c(width, height);
  title_block(c, title, width);
  const double pw = width - left - right, ph = height - top - bottom;
  for (int i = 0; i <= 4; ++i) {
    const double y = top + ph * (1 - i / 4.0);
    c.line(left, y, width - right, y, kGrid);
    c.text(percent(25.0 * i, 0), left - 8, static_cast<int>(y), 12, kMuted, Align::kRight);
  }
  const size_t n = v.size();
  auto px = [&](size_t i) { return left + (n > 1 ? pw * static_cast<double>(i) / static_cast<double>(n - 1) : pw / 2); };
  auto py = [&](double value) { return top + ph * (1 - std::clamp(value, 0.0, 1.0)); };
  if (n > 0) {
    std::vector<cv::Point2d> area{{px(0), top + ph}};
    for (size_t i = 0; i < n; ++i) area.emplace_back(px(i), py(v[i]));
    area.emplace_back(px(n - 1), top + ph);
    c.polygon(area, Rgb{198, 219, 239});
    for (size_t i = 1; i < n; ++i) c.line(px(i - 1), py(v[i - 1]), px(i), py(v[i]), Rgb{33, 113, 181}, 2);
  }
  if (reference >= 0) {
    c.dashed(left, py(reference), width - right, py(reference), kInk);
    c.text(reference_label, left + 8, static_cast<int>(py(reference)) - 12, 12, kInk);
  }
  c.text("classes, ordered by recall (" + std::to_string(n) + ")", left + static_cast<int>(pw / 2), height - 16, 12, kMuted, Align::kCentre);
  c.text("worst", left, height - bottom + 14, 12, kMuted);
  c.text("best", width - right, height - bottom + 14, 12, kMuted, Align::kRight);
  return c.png();
}

std::string heatmap_png(const std::string& title, const std::vector<std::string>& labels, const std::vector<double>& values,
                        const std::vector<int64_t>& counts, const std::vector<HeatCell>& marked) {
  const int n = static_cast<int>(labels.size());
  const int cell = std::clamp(640 / std::max(1, n), 14, 48);
  const int label_px = std::clamp(cell / 2 + 2, 11, 13);
  Canvas probe(10, 10);
  int label_w = 0;
  for (int i = 0; i < n; ++i)
    label_w = std::max(label_w, probe.text_width(std::to_string(i + 1) + "  " + labels[static_cast<size_t>(i)], label_px));
  label_w = std::min(label_w, 300);
  const int left = 20 + label_w + 10, top = 90, legend_w = 90;
  const int width = std::max(700, left + cell * n + 40 + legend_w), height = top + cell * n + 70;
  Canvas c(width, height);
  title_block(c, title, width);
  c.text("columns: predicted class, numbered as the rows; shade: share of the true class (row)", 20, 46, 12, kMuted);
  const Rgb low{247, 251, 255}, high{8, 48, 107};
  for (int i = 0; i < n; ++i) {
    const int y = top + i * cell;
    c.text(c.fit(std::to_string(i + 1) + "  " + labels[static_cast<size_t>(i)], label_px, label_w), left - 8, y + cell / 2,
           label_px, kInk, Align::kRight);
    c.text(std::to_string(i + 1), left + i * cell + cell / 2, top - 12, label_px, kInk, Align::kCentre);
    for (int j = 0; j < n; ++j) {
      const double v = values[static_cast<size_t>(i * n + j)];
      const Rgb shade = mix(low, high, std::sqrt(std::clamp(v, 0.0, 1.0)));  // sqrt: small confusions stay visible
      c.rect(left + j * cell, y, cell, cell, shade);
      const int64_t k = counts[static_cast<size_t>(i * n + j)];
      if (cell >= 30 && k > 0)
        c.text(std::to_string(k), left + j * cell + cell / 2, y + cell / 2, std::min(12, cell / 3 + 2),
               v > 0.45 ? kWhite : kInk, Align::kCentre);
    }
  }
  c.rect(left, top, cell * n, cell * n, kGrid, 1);
  for (const auto& m : marked) {
    c.rect(left + m.col * cell, top + m.row * cell, cell, cell, Rgb{220, 20, 60}, 2);
    if (cell >= 22) {
      std::string rank = "#";  // not "#" + to_string(): gcc 12 -Wrestrict false positive in C++20 (bug 105329)
      rank += std::to_string(m.rank);
      c.text(rank, left + m.col * cell + 3, top + m.row * cell + 8, 10, Rgb{220, 20, 60});
    }
  }
  // Colour scale.
  const int lx = left + cell * n + 40, ly = top, lh = std::max(120, cell * n / 2);
  for (int t = 0; t < lh; ++t) c.rect(lx, ly + t, 18, 1, mix(low, high, std::sqrt(1.0 - static_cast<double>(t) / lh)));
  c.rect(lx, ly, 18, lh, kGrid, 1);
  c.text("100%", lx + 24, ly + 4, 11, kMuted);
  c.text("25%", lx + 24, ly + static_cast<int>(lh * 0.5), 11, kMuted);  // sqrt scale: 0.5 of the bar is 25 %
  c.text("0%", lx + 24, ly + lh - 4, 11, kMuted);
  c.text("red: top confusions (#rank)", left, top + cell * n + 24, 12, Rgb{220, 20, 60});
  return c.png();
}

std::string curves_png(const std::string& title, const std::vector<Curve>& curves, double baseline,
                       const std::string& baseline_label) {
  const int width = 1000, height = 520, left = 70, right = 220, top = 56, bottom = 56;
  Canvas c(width, height);
  title_block(c, title, width);
  std::vector<double> xs;
  double lo = baseline >= 0 ? baseline : 100, hi = baseline >= 0 ? baseline : 0;
  for (const auto& cv : curves)
    for (size_t i = 0; i < cv.x.size(); ++i) {
      xs.push_back(cv.x[i]);
      const double s = i < cv.spread.size() && cv.spread[i] > 0 ? cv.spread[i] : 0;
      lo = std::min(lo, cv.y[i] - s);
      hi = std::max(hi, cv.y[i] + s);
    }
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  // A y range in whole steps of 5 points around the data.
  lo = std::max(0.0, std::floor((lo - 2) / 5) * 5);
  hi = std::min(100.0, std::ceil((hi + 2) / 5) * 5);
  if (hi - lo < 10) hi = std::min(100.0, lo + 10), lo = std::max(0.0, hi - 10);
  const double pw = width - left - right, ph = height - top - bottom;
  const double lx0 = xs.empty() ? 0 : std::log2(std::max(1e-9, xs.front())), lx1 = xs.empty() ? 1 : std::log2(std::max(1e-9, xs.back()));
  auto px = [&](double x) {
    return left + (lx1 > lx0 ? pw * (std::log2(std::max(1e-9, x)) - lx0) / (lx1 - lx0) : pw / 2);
  };
  auto py = [&](double y) { return top + ph * (1 - (y - lo) / (hi - lo)); };
  const int steps = static_cast<int>(std::lround((hi - lo) / 5));
  const int every = steps > 10 ? 2 : 1;
  for (int i = 0; i <= steps; i += every) {
    const double y = lo + 5.0 * i;
    c.line(left, py(y), left + pw, py(y), kGrid);
    c.text(percent(y, 0), left - 8, static_cast<int>(py(y)), 12, kMuted, Align::kRight);
  }
  for (double x : xs) {
    c.line(px(x), top, px(x), top + ph, kGrid);
    char b[32];
    std::snprintf(b, sizeof b, "%g", x);
    c.text(b, static_cast<int>(px(x)), top + static_cast<int>(ph) + 16, 12, kMuted, Align::kCentre);
  }
  c.text("shots per class (K, log scale)", left + static_cast<int>(pw / 2), height - 14, 12, kMuted, Align::kCentre);
  if (baseline >= 0) {
    c.dashed(left, py(baseline), left + pw, py(baseline), kMuted, 2);
    c.text(baseline_label, left + 8, static_cast<int>(py(baseline)) - 12, 12, kMuted);
  }
  for (size_t k = 0; k < curves.size(); ++k) {
    const Curve& cv = curves[k];
    const Rgb colour = palette(cv.colour >= 0 ? static_cast<size_t>(cv.colour) : k);
    for (size_t i = 0; i < cv.x.size(); ++i) {
      if (i > 0) c.line(px(cv.x[i - 1]), py(cv.y[i - 1]), px(cv.x[i]), py(cv.y[i]), colour, 2);
      if (i < cv.spread.size() && cv.spread[i] > 0) {
        const double x = px(cv.x[i]);
        c.line(x, py(cv.y[i] - cv.spread[i]), x, py(cv.y[i] + cv.spread[i]), colour);
        c.line(x - 4, py(cv.y[i] - cv.spread[i]), x + 4, py(cv.y[i] - cv.spread[i]), colour);
        c.line(x - 4, py(cv.y[i] + cv.spread[i]), x + 4, py(cv.y[i] + cv.spread[i]), colour);
      }
      c.circle(px(cv.x[i]), py(cv.y[i]), 4, colour);
    }
    // Legend on the right.
    const int ly = top + 10 + static_cast<int>(k) * 24;
    c.line(width - right + 20, ly, width - right + 44, ly, colour, 2);
    c.circle(width - right + 32, ly, 4, colour);
    c.text(c.fit(cv.label, 13, right - 60), width - right + 52, ly, 13, kInk);
  }
  return c.png();
}

}  // namespace clipzs::report_detail
