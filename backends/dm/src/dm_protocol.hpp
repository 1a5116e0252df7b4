#pragma once
// The frame format of docs/live-protocol.md, shared by the client and its tests (internal header).
// frame = u32 LE body length | header (40 bytes) | JSON meta | raw little-endian array | tag (32)
// tag   = HMAC-SHA256(key, header | meta | array)

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace autostem::backends::dm {

inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderBytes = 40;
inline constexpr std::size_t kTagBytes = 32;
inline constexpr std::size_t kNonceBytes = 16;

enum class Kind : std::uint8_t { request = 1, response = 2, error = 3, hello = 4 };

enum class Op : std::uint16_t {
  hello = 1, info = 2, survey = 3, move_beam = 4, get_beam = 5, blank = 6, unblank = 7,
  spectrum = 8, energy_offset = 9, stop = 10, acquire_point = 11, ping = 12,
  scan_patch = 13,      ///< servers announcing the "scan_patch" capability
  estimate_point = 14,  ///< rehearsal servers only (info "clock": "simulated")
};

/// dtype codes of the header: 0 none, 1 u8, 2 u16, 3 i32, 4 f32, 5 f64, 6 u32.
enum class DType : std::uint8_t { none = 0, u8 = 1, u16 = 2, i32 = 3, f32 = 4, f64 = 5, u32 = 6 };
std::size_t itemsize(DType t);

struct Frame {
  Kind kind = Kind::request;
  std::uint16_t op = 0;
  std::uint64_t seq = 0;
  std::string meta = "{}";             ///< JSON object text
  DType dtype = DType::none;
  std::vector<std::uint32_t> shape;    ///< ≤ 4 dimensions
  std::vector<std::uint8_t> payload;   ///< raw little-endian values
  bool tag_ok = false;                 ///< set by decode_body
};

/// The whole frame on the wire (length prefix included), tagged with key.
std::vector<std::uint8_t> encode_frame(std::span<const std::uint8_t> key, const Frame& f);

/// Parses a body (the bytes after the length prefix) and checks its tag with key (tag_ok).
/// Throws std::runtime_error on a malformed body (magic, version, sizes), naming what is wrong.
/// The rvalue overload reuses the body's storage for the payload (no copy of a large array).
Frame decode_body(std::vector<std::uint8_t>&& body, std::span<const std::uint8_t> key);
Frame decode_body(std::span<const std::uint8_t> body, std::span<const std::uint8_t> key);

/// HMAC-SHA256 over the concatenation of parts (OpenSSL EVP_MAC).
std::array<std::uint8_t, 32> hmac_sha256(std::span<const std::uint8_t> key,
                                         std::initializer_list<std::span<const std::uint8_t>> parts);

/// Per-connection key: HMAC-SHA256(key, "autostem-dm-v1" | client nonce | server nonce).
std::vector<std::uint8_t> session_key(std::span<const std::uint8_t> key,
                                      std::span<const std::uint8_t> client_nonce,
                                      std::span<const std::uint8_t> server_nonce);

/// Cryptographically random bytes (OpenSSL RAND_bytes). Throws std::runtime_error on failure.
std::vector<std::uint8_t> random_bytes(std::size_t n);

std::string to_hex(std::span<const std::uint8_t> bytes);
/// Throws std::invalid_argument on odd length or a non-hex digit.
std::vector<std::uint8_t> from_hex(const std::string& text);

}  // namespace autostem::backends::dm
