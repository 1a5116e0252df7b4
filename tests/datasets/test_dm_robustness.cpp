// Robustness of the DM reader on damaged and hostile input: every prefix of the small fixtures,
// single-bit flips, and hand-made files with lying sizes or absurd nesting. The contract: either
// a valid result or a std::exception — never a crash, a hang or a huge allocation. (Run under
// ASan/UBSan by the fuzz targets in fuzz/; here the plain build checks the same contract.)
#include <autostem/datasets/dm_tags.hpp>
#include <autostem/datasets/formats.hpp>

#include "formats_internal.hpp"
#include "test_data.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <random>

namespace ad = autostem::datasets;

namespace {

std::vector<std::byte> slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

// Parses; returns 1 for a result, 0 for a std::exception. Anything else escapes and fails.
int try_parse(std::span<const std::byte> bytes) {
  try {
    const auto sigs = ad::read_dm_bytes(bytes, "fuzzed");
    for (const auto& s : sigs) {
      // A result must be self-consistent.
      std::size_t n = 1;
      for (const auto& a : s.axes) n *= a.size;
      if (n * ad::dtype_size(s.dtype) != s.bytes.size()) ADD_FAILURE() << "inconsistent Signal";
    }
    return 1;
  } catch (const std::exception&) {
    return 0;
  }
}

void put_be32(std::vector<std::byte>& v, std::uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(std::byte{static_cast<unsigned char>(x >> s)});
}
void put_be64(std::vector<std::byte>& v, std::uint64_t x) {
  for (int s = 56; s >= 0; s -= 8) v.push_back(std::byte{static_cast<unsigned char>(x >> s)});
}
void put_u8(std::vector<std::byte>& v, unsigned x) { v.push_back(std::byte{static_cast<unsigned char>(x)}); }
void header(std::vector<std::byte>& v, int version) {
  put_be32(v, static_cast<std::uint32_t>(version));
  if (version == 4) put_be64(v, 0);
  else put_be32(v, 0);
  put_be32(v, 1);
}
void group_head(std::vector<std::byte>& v, int version, std::uint64_t count) {
  put_u8(v, 0);
  put_u8(v, 0);
  if (version == 4) put_be64(v, count);
  else put_be32(v, static_cast<std::uint32_t>(count));
}

std::string error_of(std::span<const std::byte> bytes) {
  try {
    ad::parse_dm_tags(bytes, "hostile.dm");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// Every prefix of four small fixtures (18–33 KiB: DM3 and DM4; 1-D, 2-D, 3-D; RGBA; packed
// complex), and a strided subset of every DM fixture (all prefixes of the first 1 KiB, then
// about 400 evenly spaced ones) to keep the test to seconds: parsing a prefix costs O(length).
TEST(DMRobustness, EveryPrefixOfSmallFixtures) {
  const char* full[] = {"dm/rosettasciio/2D/test-1.dm4", "dm/rosettasciio/3D/test-23.dm3",
                        "dm/rosettasciio/1D/test-23.dm4", "dm/rosettasciio/2D/test-5.dm3"};
  for (const char* rel : full) {
    AUTOSTEM_REQUIRE_DATA(path, rel);
    const auto bytes = slurp(path);
    int ok = 0;
    for (std::size_t n = 0; n <= bytes.size(); ++n) ok += try_parse({bytes.data(), n});
    EXPECT_GE(ok, 1) << rel << ": the full file must parse";
    EXPECT_LT(ok, static_cast<int>(bytes.size())) << rel << ": short prefixes must fail";
  }
}

TEST(DMRobustness, StridedPrefixesOfAllFixtures) {
  const auto root = autostem::testing::data_dir();
  if (!std::filesystem::exists(root / "dm"))
    AUTOSTEM_SKIP_OR_FAIL("no datasets at " + root.string() + " (set AUTOSTEM_DATA to ../shared/datasets)");
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root / "dm"))
    if (e.path().extension() == ".dm3" || e.path().extension() == ".dm4") files.push_back(e.path());
  files.push_back(root / "eels/si_dm4/EELS_SI.dm4");
  ASSERT_GT(files.size(), 90u);
  for (const auto& f : files) {
    const auto bytes = slurp(f);
    const std::size_t stride = std::max<std::size_t>(1, bytes.size() / 400) | 1;
    for (std::size_t n = 0; n <= bytes.size(); n += n < 1024 ? 1 : stride) try_parse({bytes.data(), n});
    EXPECT_EQ(try_parse(bytes), 1) << f;
  }
}

// 2000 single-bit flips per fixture, fixed seed; flips land anywhere (header, tag structure,
// data) and must never crash.
TEST(DMRobustness, BitFlips) {
  std::mt19937_64 rng(20240501);
  for (const char* rel : {"dm/rosettasciio/2D/test-1.dm3", "dm/rosettasciio/2D/test-28.dm4",
                          "eels/si_dm4/EELS_SI.dm4", "dm/rosettasciio/2D/multi_signal.dm3"}) {
    AUTOSTEM_REQUIRE_DATA(path, rel);
    auto bytes = slurp(path);
    // Structure lives in the tag headers; bias half the flips to the first 64 KiB.
    for (int i = 0; i < 2000; ++i) {
      const std::size_t limit = (i % 2) ? bytes.size() : std::min<std::size_t>(bytes.size(), 65536);
      const std::size_t at = rng() % limit;
      const auto bit = static_cast<unsigned char>(1u << (rng() % 8));
      bytes[at] ^= std::byte{bit};
      try_parse(bytes);
      bytes[at] ^= std::byte{bit};
    }
  }
}

TEST(DMRobustness, DeepNestingIsRejected) {
  for (int version : {3, 4}) {
    std::vector<std::byte> v;
    header(v, version);
    group_head(v, version, 1);
    for (int d = 0; d < 200; ++d) {
      put_u8(v, 20);
      put_u8(v, 0);
      put_u8(v, 1);
      put_u8(v, 'g');
      if (version == 4) put_be64(v, 0);
      group_head(v, version, 1);
    }
    const std::string err = error_of(v);
    EXPECT_NE(err.find("nested deeper than 64"), std::string::npos) << err;
    EXPECT_NE(err.find("hostile.dm"), std::string::npos) << err;
  }
}

TEST(DMRobustness, HugeDeclaredSizesAreRejectedBeforeAllocating) {
  // A group claiming 2^32 − 1 tags in a 30-byte file.
  {
    std::vector<std::byte> v;
    header(v, 3);
    group_head(v, 3, 0xFFFFFFFFu);
    EXPECT_NE(error_of(v).find("declares 4294967295 tags"), std::string::npos) << error_of(v);
  }
  // A DM4 array of 2^60 float64.
  {
    std::vector<std::byte> v;
    header(v, 4);
    group_head(v, 4, 1);
    put_u8(v, 21);
    put_u8(v, 0);
    put_u8(v, 4);
    for (char c : {'D', 'a', 't', 'a'}) put_u8(v, static_cast<unsigned>(c));
    put_be64(v, 36);  // the true DM4 tag length, so the array size itself is what lies
    for (char c : {'%', '%', '%', '%'}) put_u8(v, static_cast<unsigned>(c));
    put_be64(v, 3);
    put_be64(v, 20);
    put_be64(v, 7);
    put_be64(v, std::uint64_t{1} << 60);
    const std::string err = error_of(v);
    EXPECT_NE(err.find("exceeds"), std::string::npos) << err;
    EXPECT_NE(err.find("'Data'"), std::string::npos) << err;
  }
  // An info array of 2^62 entries.
  {
    std::vector<std::byte> v;
    header(v, 4);
    group_head(v, 4, 1);
    put_u8(v, 21);
    put_u8(v, 0);
    put_u8(v, 1);
    put_u8(v, 'x');
    put_be64(v, 12);
    for (char c : {'%', '%', '%', '%'}) put_u8(v, static_cast<unsigned>(c));
    put_be64(v, std::uint64_t{1} << 62);
    EXPECT_NE(error_of(v).find("info array"), std::string::npos) << error_of(v);
  }
  // Image dimensions that multiply beyond the data (and overflow 64 bits).
  {
    const std::vector<float> data(4, 1.0f);
    ad::detail::DMWriteImage im;
    im.dm_data_type = 2;
    im.dims = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    im.data = {reinterpret_cast<const std::byte*>(data.data()), 16};
    const auto file = ad::detail::write_dm(im, 4, true);
    try {
      ad::read_dm_bytes(file, "dims.dm4");
      FAIL();
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("Dimensions"), std::string::npos) << e.what();
    }
  }
}

TEST(DMRobustness, TagCountIsCapped) {
  // 1,000,001 empty groups (9 bytes each) exceed kDMMaxTags.
  std::vector<std::byte> v;
  header(v, 3);
  const std::uint64_t n = ad::kDMMaxTags + 1;
  group_head(v, 3, n);
  v.reserve(v.size() + n * 9);
  for (std::uint64_t i = 0; i < n; ++i) {
    put_u8(v, 20);
    put_u8(v, 0);
    put_u8(v, 0);
    group_head(v, 3, 0);
  }
  EXPECT_NE(error_of(v).find("more than 1000000 tags"), std::string::npos);
}
