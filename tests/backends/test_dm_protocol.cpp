// The client's frame codec and key handling (docs/live-protocol.md). The Python side of the same
// format is tested in test_dm_server.py; the end-to-end tests prove the two agree.

#include "dm_protocol.hpp"

#include <autostem/backends/dm_client.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace autostem::backends::dm {
namespace {

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(DmProtocol, HmacSha256MatchesRfc4231TestCase2) {
  const auto tag = hmac_sha256(bytes("Jefe"), {bytes("what do ya want "), bytes("for nothing?")});
  EXPECT_EQ(to_hex(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

Frame sample() {
  Frame f;
  f.kind = Kind::response;
  f.op = static_cast<std::uint16_t>(Op::acquire_point);
  f.seq = 42;
  f.meta = R"({"row":1.25})";
  f.dtype = DType::f32;
  f.shape = {3};
  const float v[3] = {1.0f, 2.5f, -3.0f};
  f.payload.resize(sizeof v);
  std::memcpy(f.payload.data(), v, sizeof v);
  return f;
}

TEST(DmProtocol, FrameRoundTripsAndIsAuthenticated) {
  const std::vector<std::uint8_t> key(32, 9);
  const auto wire = encode_frame(key, sample());
  std::uint32_t len = 0;
  std::memcpy(&len, wire.data(), 4);
  ASSERT_EQ(len + 4u, wire.size());
  const auto body = std::span(wire).subspan(4);
  const Frame f = decode_body(body, key);
  EXPECT_TRUE(f.tag_ok);
  EXPECT_EQ(f.seq, 42u);
  EXPECT_EQ(f.meta, sample().meta);
  EXPECT_EQ(f.payload, sample().payload);
  EXPECT_FALSE(decode_body(body, std::vector<std::uint8_t>(32, 8)).tag_ok);
  auto tampered = std::vector<std::uint8_t>(body.begin(), body.end());
  tampered[kHeaderBytes + 3] ^= 1;
  EXPECT_FALSE(decode_body(tampered, key).tag_ok);
}

TEST(DmProtocol, MalformedBodiesThrowNamingTheProblem) {
  const std::vector<std::uint8_t> key(32, 9);
  auto wire = encode_frame(key, sample());
  std::vector<std::uint8_t> body(wire.begin() + 4, wire.end());
  body.push_back(0);
  EXPECT_THROW(
      {
        try {
          decode_body(body, key);
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("does not match its header"), std::string::npos);
          throw;
        }
      },
      std::runtime_error);
  body.assign(wire.begin() + 4, wire.end());
  body[0] = 'X';
  EXPECT_THROW(decode_body(body, key), std::runtime_error);
  EXPECT_THROW(decode_body(std::vector<std::uint8_t>(10), key), std::runtime_error);
}

TEST(DmProtocol, SessionKeyDependsOnBothNonces) {
  const std::vector<std::uint8_t> key(32, 1), a(16, 2), b(16, 3);
  EXPECT_EQ(session_key(key, a, b), session_key(key, a, b));
  EXPECT_NE(session_key(key, a, b), session_key(key, b, a));
  EXPECT_EQ(session_key(key, a, b).size(), 32u);
}

TEST(DmProtocol, KeyFileIsHexOrRawAndAtLeast16Bytes) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto p = dir / ("autostem-key-test-" + std::to_string(::getpid()));
  std::ofstream(p) << "  00112233445566778899aabbccddeeff\n";
  EXPECT_EQ(read_key_file(p).size(), 16u);
  std::ofstream(p) << "a raw passphrase of some length";
  EXPECT_EQ(read_key_file(p).size(), 31u);
  std::ofstream(p) << "short";
  EXPECT_THROW(read_key_file(p), std::invalid_argument);
  std::filesystem::remove(p);
  EXPECT_THROW(read_key_file(p), std::runtime_error);
}

}  // namespace
}  // namespace autostem::backends::dm
