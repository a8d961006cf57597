// Helpers shared by the unit tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace clipzs::test_support {

// A fresh, empty folder under the system temp dir, unique per test process and name.
inline std::filesystem::path fresh_temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("clipzs_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace clipzs::test_support
