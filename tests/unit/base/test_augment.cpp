// Augmented training views (few-shot): determinism, shape, and the crop-then-resize arithmetic.
#include <gtest/gtest.h>

#include <random>

#include "clipzs/util/error.hpp"
#include "clipzs/image/image.hpp"

namespace clipzs {
namespace {

DecodedImage random_image(int w, int h, PixelMode mode, int ch, uint32_t seed) {
  DecodedImage img;
  img.width = w;
  img.height = h;
  img.mode = mode;
  std::mt19937 rng(seed);
  img.pixels.resize(static_cast<size_t>(w) * h * ch);
  for (auto& p : img.pixels) p = static_cast<uint8_t>(rng());
  return img;
}

PreprocessSpec spec32() {
  PreprocessSpec s;
  s.size = 32;
  return s;
}

TEST(Augment, SameSeedIndexAndViewGiveTheSameView) {
  DecodedImage img = random_image(90, 60, PixelMode::kRGB, 3, 1);
  AugmentSpec a;
  Image8 v1 = augmented_view(img, spec32(), a, 5, 3, 2);
  Image8 v2 = augmented_view(img, spec32(), a, 5, 3, 2);
  EXPECT_EQ(v1.pixels, v2.pixels);
  EXPECT_EQ(v1.width, 32);
  EXPECT_EQ(v1.height, 32);
  EXPECT_EQ(v1.channels, 3);
  int distinct = 0;
  for (int view = 0; view < 6; ++view) distinct += augmented_view(img, spec32(), a, 5, 3, view).pixels != v1.pixels;
  EXPECT_GE(distinct, 5);  // views 0..5 other than view 2 all differ from it
  EXPECT_NE(augmented_view(img, spec32(), a, 6, 3, 2).pixels, v1.pixels);
  EXPECT_NE(augmented_view(img, spec32(), a, 5, 4, 2).pixels, v1.pixels);
}

TEST(Augment, FullScaleWithoutFlipIsTheWholeImageResized) {
  // Scale 1 on a square image leaves only the whole image as a crop (or the centre-crop fallback, the
  // same here), so the view is the whole image squashed to size x size, grey converted to RGB.
  DecodedImage img = random_image(50, 50, PixelMode::kL, 1, 2);
  AugmentSpec a;
  a.scale_min = a.scale_max = 1.0;
  a.flip = false;
  PreprocessSpec squash = spec32();
  squash.resize_mode = ResizeMode::kSquash;
  Image8 expected = preprocess(img, squash);
  for (int view = 0; view < 4; ++view) EXPECT_EQ(augmented_view(img, spec32(), a, 9, 0, view).pixels, expected.pixels);
}

TEST(Augment, BadScaleIsAUsageError) {
  DecodedImage img = random_image(20, 20, PixelMode::kRGB, 3, 3);
  AugmentSpec a;
  a.scale_min = 0.8;
  a.scale_max = 0.5;
  try {
    augmented_view(img, spec32(), a, 1, 0, 0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
  }
}

}  // namespace
}  // namespace clipzs
