#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "clipzs/util/error.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/store/npy.hpp"
#include "../test_support.hpp"

namespace fs = std::filesystem;
using namespace clipzs;


TEST(Npy, RoundTripFloat32KeepsShapeAndValues) {
  fs::path dir = clipzs::test_support::fresh_temp_dir("npy");
  std::vector<float> values{1.5f, -2.0f, 0.0f, 3.25f, 1e-8f, -7.0f};
  write_npy((dir / "a.npy").string(), values, {2, 3});
  NpyArray a = read_npy((dir / "a.npy").string());
  EXPECT_EQ(a.dtype, "<f4");
  ASSERT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.to_float(), values);
  // numpy requires the payload offset to be a multiple of 64 for version 1.0 headers it writes.
  EXPECT_EQ(npy_header("<f4", {2, 3}).size() % 64, 0u);
  EXPECT_FALSE(fs::exists(temp_path_for((dir / "a.npy").string())));
}

TEST(Npy, OneDimensionalShapeHasTrailingComma) {
  std::string header = npy_header("<i8", {5});
  EXPECT_NE(header.find("'shape': (5,)"), std::string::npos) << header;
}

TEST(Npy, HalfConversionMatchesIeeeRounding) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(1e6f), 0x7c00);            // overflow -> inf
  EXPECT_EQ(float_to_half(5.960464477539063e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), 0x3c00);      // tie rounds to even
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048), 0x3c02);
  for (float v : {0.1f, -0.333f, 0.7071f, 1e-5f, 123.456f}) {
    float back = half_to_float(float_to_half(v));
    EXPECT_NEAR(back, v, std::fabs(v) * 1e-3f + 1e-7f);
  }
}

TEST(Npy, TruncatedPayloadNamesTheFile) {
  fs::path dir = clipzs::test_support::fresh_temp_dir("npytrunc");
  std::string content = npy_header("<f4", {4, 4}) + std::string(10, '\0');
  write_file_atomic((dir / "t.npy").string(), content);
  try {
    read_npy((dir / "t.npy").string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(std::string(e.what()).find("t.npy"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos);
  }
}

TEST(Files, Sha256OfKnownString) {
  EXPECT_EQ(sha256_bytes("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
