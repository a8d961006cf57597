// Library log messages go to a sink the caller installs; the library never writes to stdout and never
// names a logging framework in its own sources. The CLI installs a sink that forwards to spdlog; a
// program that installs none gets warnings and errors on stderr, and nothing else.
//
// Contract:
//  - set_log_sink replaces the process-wide sink (nullptr restores the default) and the level below
//    which messages are dropped before they are formatted. Not meant to be called while another thread
//    is logging: set it once, at start-up.
//  - The sink may be called from any library thread; calls are serialised by the library, so a sink
//    needs no lock of its own.
//  - Messages may name parameters and calls (error.hpp: param(), call()); a sink shows them with
//    render_names() and its own spelling. The default sink shows the plain names.
//  - log_enabled(level) is cheap: build expensive messages only when it is true.
#pragma once

#include <functional>
#include <string>

namespace clipzs {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };
using LogSink = std::function<void(LogLevel level, const std::string& message)>;

void set_log_sink(LogSink sink, LogLevel min_level = LogLevel::kInfo);
bool log_enabled(LogLevel level) noexcept;
void log_message(LogLevel level, const std::string& message);

inline void log_debug(const std::string& message) { log_message(LogLevel::kDebug, message); }
inline void log_info(const std::string& message) { log_message(LogLevel::kInfo, message); }
inline void log_warn(const std::string& message) { log_message(LogLevel::kWarn, message); }

}  // namespace clipzs
