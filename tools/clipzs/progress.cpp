// Progress on stderr. On a terminal: one line redrawn in place (count, %, rate, ETA). Elsewhere (CI
// logs, files, pipes): a plain log line every `log_every` seconds and one when a stage completes, so a
// log shows that a long job is alive and how fast it goes without filling up with redraws.
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "command.hpp"

namespace clipzs::cli {
namespace {

struct Settings {
  bool quiet = false;
  double log_every_s = 30.0;
};
Settings g_settings;
// Guards the terminal progress line against log lines from other threads (decode workers, k-NN).
std::mutex g_stderr_mutex;
bool g_line_open = false;  // a terminal progress line is drawn and not yet ended with a newline

// Log lines clear a drawn progress line first, so they never land in the middle of it; the next
// progress update draws it again below them.
class LineClearingSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  LineClearingSink() : inner_(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    // Held across the write: a progress redraw from another thread cannot land between the clearing
    // and the log line. (Nothing logs while holding g_stderr_mutex, so the lock order is fixed.)
    std::lock_guard<std::mutex> lock(g_stderr_mutex);
    if (g_line_open) std::fputs("\r\x1b[K", stderr);
    g_line_open = false;
    inner_->log(msg);
  }
  void flush_() override { inner_->flush(); }
  void set_pattern_(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter_(std::unique_ptr<spdlog::formatter> formatter) override { inner_->set_formatter(std::move(formatter)); }

 private:
  std::shared_ptr<spdlog::sinks::stderr_color_sink_mt> inner_;
};

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  const long s = static_cast<long>(seconds + 0.5);
  char buffer[32];
  if (s >= 3600) std::snprintf(buffer, sizeof buffer, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buffer, sizeof buffer, "%02ld:%02ld", s / 60, s % 60);
  return buffer;
}

std::string format_rate(double per_second) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, per_second >= 100 ? "%.0f" : per_second >= 10 ? "%.1f" : "%.2f", per_second);
  return buffer;
}

struct Line {
  double rate = 0, eta = -1, percent = 100;
};

Line measure(const Progress& p) {
  Line l;
  l.rate = p.elapsed_s > 0 ? static_cast<double>(p.done_this_run) / p.elapsed_s : 0.0;
  l.eta = l.rate > 0 ? static_cast<double>(p.total - p.done) / l.rate : -1;
  l.percent = p.total > 0 ? 100.0 * static_cast<double>(p.done) / static_cast<double>(p.total) : 100.0;
  return l;
}

struct State {
  std::string base, what, unit;  // what: base, and the stage when the call names one
  std::string stage;             // of the last update
  bool terminal = false;
  int64_t last_done = -1, last_total = -1;
  std::chrono::steady_clock::time_point last_draw{}, last_log = std::chrono::steady_clock::now();
};

void draw_terminal(State& s, const Progress& p, bool force) {
  const auto now = std::chrono::steady_clock::now();
  // Redraw at most 10 times a second: InMaP reports thousands of steps a second.
  if (!force && now - s.last_draw < std::chrono::milliseconds(100)) return;
  s.last_draw = now;
  const Line l = measure(p);
  constexpr int kBar = 20;
  const int filled = static_cast<int>(l.percent / 100.0 * kBar + 0.5);
  const std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kBar - filled), '.');
  std::lock_guard<std::mutex> lock(g_stderr_mutex);
  const std::string timing = p.done >= p.total ? "in " + format_duration(p.elapsed_s) : "ETA " + format_duration(l.eta);
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %s %5.1f%% %s %s/s %s%s\x1b[K", s.what.c_str(), bar.c_str(),
               static_cast<long long>(p.done), static_cast<long long>(p.total), s.unit.c_str(), l.percent,
               format_rate(l.rate).c_str(), s.unit.c_str(), timing.c_str(),
               p.errors ? (", " + std::to_string(p.errors) + " errors").c_str() : "");
  std::fflush(stderr);
  g_line_open = true;
}

void log_line(State& s, const Progress& p, bool complete) {
  const auto now = std::chrono::steady_clock::now();
  if (!complete && std::chrono::duration<double>(now - s.last_log).count() < g_settings.log_every_s) return;
  s.last_log = now;
  const Line l = measure(p);
  const std::string errors = p.errors ? ", " + std::to_string(p.errors) + " errors" : "";
  if (complete)
    spdlog::info("{}: {}/{} {} done in {} ({} {}/s{})", s.what, p.done, p.total, s.unit, format_duration(p.elapsed_s),
                 format_rate(l.rate), s.unit, errors);
  else
    spdlog::info("{}: {}/{} {} ({:.1f}%), {} {}/s, ETA {}{}", s.what, p.done, p.total, s.unit, l.percent,
                 format_rate(l.rate), s.unit, format_duration(l.eta), errors);
}

}  // namespace

std::shared_ptr<spdlog::logger> make_stderr_logger() {
  return std::make_shared<spdlog::logger>("clipzs", std::make_shared<LineClearingSink>());
}

void configure_progress(bool quiet, double log_every_s) {
  g_settings.quiet = quiet;
  if (log_every_s > 0) g_settings.log_every_s = log_every_s;
}

ProgressCallback make_progress(const std::string& what, const std::string& unit, bool disabled) {
  if (disabled || g_settings.quiet) return {};
  auto state = std::make_shared<State>();
  state->base = state->what = what;
  state->unit = unit;
  state->terminal = ::isatty(STDERR_FILENO) != 0;
  return [state](const Progress& p) {
    State& s = *state;
    // A new stage (embed pairs: images, then captions) starts over: keep the finished stage's line.
    // (A total that changes within a stage, e.g. InMaP --fast stopping early, is the same stage.)
    const char* stage = p.stage ? p.stage : "";
    const bool new_stage = s.stage != stage;  // no allocation per update: InMaP sends thousands a second
    if ((new_stage || p.done < s.last_done) && s.last_total >= 0) {
      if (s.terminal) finish_progress();
      s.last_log = std::chrono::steady_clock::now();
      s.last_done = s.last_total = -1;
    }
    if (new_stage) {
      s.stage = stage;
      s.what = s.stage.empty() ? s.base : s.base + " " + s.stage;
    }
    const bool complete = p.done >= p.total;
    const bool first_complete = complete && !(s.last_done == p.done && s.last_total == p.total);
    s.last_done = p.done;
    s.last_total = p.total;
    if (s.terminal) draw_terminal(s, p, first_complete);
    else if (!complete || first_complete) log_line(s, p, complete);
  };
}

void finish_progress() {
  std::lock_guard<std::mutex> lock(g_stderr_mutex);
  if (g_line_open) std::fputc('\n', stderr);
  g_line_open = false;
}

}  // namespace clipzs::cli
