// The method registry (include/clipzs/methods/method.hpp): every method once, in report order, found by name,
// and state folders refused with a message when they name an unknown method, another method than
// asked for, or a newer format.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "clipzs/util/error.hpp"
#include "clipzs/methods/method.hpp"

using namespace clipzs;
namespace fs = std::filesystem;

TEST(MethodRegistry, KnowsEveryMethodOnceInReportOrder) {
  std::set<std::string> names;
  int previous_kind = -1;
  for (const auto& e : method_registry()) {
    EXPECT_TRUE(names.insert(e.name).second) << e.name << " is registered twice";
    EXPECT_GE(static_cast<int>(e.kind), previous_kind) << e.name << ": zero-shot, label-free, then few-shot methods";
    previous_kind = static_cast<int>(e.kind);
    EXPECT_EQ(method_rank(e.name), static_cast<int>(names.size()) - 1);
    EXPECT_FALSE(e.summary.empty()) << e.name;
    if (e.kind == MethodKind::kFewShot) EXPECT_TRUE(e.fewshot_logits) << e.name << ": validation needs its logits";
    if (e.kind != MethodKind::kZeroShot) EXPECT_TRUE(e.load) << e.name << ": its states must be readable";
  }
  for (const char* m : {"zeroshot", "inmap", "xmore", "linear-probe", "tip-adapter", "tip-adapter-f", "relation"})
    EXPECT_TRUE(names.count(m)) << m;
  EXPECT_EQ(method_registry().front().name, "zeroshot");
  EXPECT_EQ(find_method("tip-adapter-f").kind, MethodKind::kFewShot);
  EXPECT_TRUE(find_method("inmap").load);
  EXPECT_FALSE(find_method("zeroshot").load);
  try {
    find_method("coop");
    FAIL() << "an unknown method was found";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(e.what()).find("coop"), std::string::npos);
    for (const auto& m : method_registry()) EXPECT_NE(e.hint().find(m.name), std::string::npos) << e.hint();
  }
}

TEST(MethodRegistry, StatesOfUnknownMethodsOrNewerFormatsAreRefused) {
  const fs::path dir = fs::temp_directory_path() / ("clipzs_registry_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto write = [&](const nlohmann::json& j) { std::ofstream(dir / "state.json") << j.dump(); };
  write({{"method", "coop"}});
  EXPECT_THROW(load_method_state(dir.string()), Error);
  write({{"method", "inmap"}, {"state_version", 99}});
  try {
    load_method_state(dir.string());
    FAIL() << "a state of a newer format was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("format 99"), std::string::npos) << e.what();
  }
  write({{"method", "inmap"}});
  try {
    load_method_state(dir.string(), "xmore");
    FAIL() << "an InMaP state was read as X-MoRe";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds a inmap state, not xmore"), std::string::npos) << e.what();
  }
  write({{"method", "inmap"}, {"state_version", "1"}});
  EXPECT_THROW(load_method_state(dir.string()), Error);  // a version must be a number
  fs::remove_all(dir);
}
