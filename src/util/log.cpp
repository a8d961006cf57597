// The library's log sink (include/clipzs/util/log.hpp).
#include "clipzs/util/log.hpp"

#include "clipzs/util/error.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace clipzs {
namespace {

std::mutex& sink_mutex() {
  static std::mutex mutex;
  return mutex;
}

LogSink& sink() {
  static LogSink installed;
  return installed;
}

std::atomic<int> min_level{static_cast<int>(LogLevel::kWarn)};  // the default sink: warnings and errors

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warning";
    case LogLevel::kError: return "error";
    default: return "";
  }
}

}  // namespace

void set_log_sink(LogSink new_sink, LogLevel level) {
  std::lock_guard<std::mutex> lock(sink_mutex());
  const bool has_sink = static_cast<bool>(new_sink);
  sink() = std::move(new_sink);
  min_level.store(static_cast<int>(has_sink ? level : LogLevel::kWarn));
}

bool log_enabled(LogLevel level) noexcept { return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed); }

void log_message(LogLevel level, const std::string& message) {
  if (!log_enabled(level) || level == LogLevel::kOff) return;
  std::lock_guard<std::mutex> lock(sink_mutex());
  if (sink()) {
    sink()(level, message);
  } else {
    std::fprintf(stderr, "clipzs %s: %s\n", level_name(level), render_names(message).c_str());
  }
}

}  // namespace clipzs
