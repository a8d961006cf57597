#include <unistd.h>

#include <cstdio>

#include "command.hpp"

namespace clipzs::cli {
namespace {
bool g_line_open = false;

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  const long s = static_cast<long>(seconds + 0.5);
  char buffer[32];
  if (s >= 3600) std::snprintf(buffer, sizeof buffer, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buffer, sizeof buffer, "%02ld:%02ld", s / 60, s % 60);
  return buffer;
}
}  // namespace

ProgressCallback make_progress(const std::string& what, bool quiet) {
  if (quiet || !::isatty(STDERR_FILENO)) return {};
  return [what](const Progress& p) {
    const double rate = p.elapsed_s > 0 ? static_cast<double>(p.done_this_run) / p.elapsed_s : 0.0;
    const double eta = rate > 0 ? static_cast<double>(p.total - p.done) / rate : -1;
    std::fprintf(stderr, "\r%s %lld/%lld (%.1f%%) %.1f/s ETA %s%s\x1b[K", what.c_str(),
                 static_cast<long long>(p.done), static_cast<long long>(p.total),
                 p.total ? 100.0 * static_cast<double>(p.done) / static_cast<double>(p.total) : 100.0, rate,
                 format_duration(eta).c_str(),
                 p.errors ? (", " + std::to_string(p.errors) + " errors").c_str() : "");
    g_line_open = true;
  };
}

void finish_progress() {
  if (g_line_open) std::fputc('\n', stderr);
  g_line_open = false;
}

}  // namespace clipzs::cli
