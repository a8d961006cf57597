// Names in library messages (clipzs/util/error.hpp): plain in what()/hint(), a front end's own spelling
// through render_names().
#include <gtest/gtest.h>

#include "clipzs/util/error.hpp"

namespace clipzs {
namespace {

std::string shout(std::string_view name, bool is_call) {
  return (is_call ? "CALL[" : "PARAM[") + std::string(name) + "]";
}

TEST(ErrorNames, WhatAndHintShowPlainNames) {
  const Error e(ErrorKind::kUsage, param("batch_size") + " must be at least 1",
                "make it with `" + call("embed_texts") + "`, then pass " + param("resume"));
  EXPECT_STREQ(e.what(), "batch_size must be at least 1");
  EXPECT_EQ(e.hint(), "make it with `embed_texts`, then pass resume");
  EXPECT_EQ(e.what(), render_names(e.marked_what()));
}

TEST(ErrorNames, ARendererSpellsParametersAndCallsApart) {
  const Error e(ErrorKind::kOutput, "'x' exists", "pass " + param("overwrite") + " or rerun `" + call("embed_pairs") + "`");
  EXPECT_EQ(render_names(e.marked_hint(), shout), "pass PARAM[overwrite] or rerun `CALL[embed_pairs]`");
  EXPECT_EQ(render_names(e.marked_what(), shout), "'x' exists");
}

TEST(ErrorNames, TextWithoutMarksOrWithABrokenMarkIsKeptAsItIs) {
  EXPECT_EQ(render_names("no names here", shout), "no names here");
  EXPECT_EQ(render_names("", shout), "");
  const std::string broken = "cut " + param("batch_size").substr(0, 4);  // the closing mark lost
  EXPECT_EQ(render_names(broken, shout), broken);
  EXPECT_EQ(render_names(param("a") + param("b"), shout), "PARAM[a]PARAM[b]");
}

}  // namespace
}  // namespace clipzs
