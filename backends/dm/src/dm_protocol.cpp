#include "dm_protocol.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>
#include <stdexcept>

namespace autostem::backends::dm {

namespace {

static_assert(std::endian::native == std::endian::little,
              "the protocol's arrays are little-endian; this client assumes a little-endian host");

template <typename T>
void put(std::vector<std::uint8_t>& out, T v) {
  std::uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.insert(out.end(), b, b + sizeof(T));
}

template <typename T>
T get(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

struct MacDeleter {
  void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

}  // namespace

std::size_t itemsize(DType t) {
  switch (t) {
    case DType::none: return 0;
    case DType::u8: return 1;
    case DType::u16: return 2;
    case DType::i32: case DType::f32: case DType::u32: return 4;
    case DType::f64: return 8;
  }
  return 0;
}

std::array<std::uint8_t, 32> hmac_sha256(std::span<const std::uint8_t> key,
                                         std::initializer_list<std::span<const std::uint8_t>> parts) {
  // One fetched HMAC implementation per thread; a context per call (cheap next to the I/O).
  thread_local std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) throw std::runtime_error("OpenSSL: HMAC is not available");
  std::unique_ptr<EVP_MAC_CTX, MacDeleter> ctx(EVP_MAC_CTX_new(mac.get()));
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!ctx || EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1)
    throw std::runtime_error("OpenSSL: cannot initialise HMAC-SHA256");
  for (const auto& p : parts)
    if (!p.empty() && EVP_MAC_update(ctx.get(), p.data(), p.size()) != 1)
      throw std::runtime_error("OpenSSL: HMAC update failed");
  std::array<std::uint8_t, 32> out{};
  std::size_t n = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &n, out.size()) != 1 || n != out.size())
    throw std::runtime_error("OpenSSL: HMAC final failed");
  return out;
}

std::vector<std::uint8_t> session_key(std::span<const std::uint8_t> key,
                                      std::span<const std::uint8_t> client_nonce,
                                      std::span<const std::uint8_t> server_nonce) {
  static const char label[] = "autostem-dm-v1";
  const auto t = hmac_sha256(
      key, {std::span(reinterpret_cast<const std::uint8_t*>(label), sizeof(label) - 1),
            client_nonce, server_nonce});
  return {t.begin(), t.end()};
}

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::vector<std::uint8_t> out(n);
  if (RAND_bytes(out.data(), static_cast<int>(n)) != 1)
    throw std::runtime_error("OpenSSL: RAND_bytes failed");
  return out;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

std::vector<std::uint8_t> from_hex(const std::string& text) {
  if (text.size() % 2) throw std::invalid_argument("hex text has an odd number of digits");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument(std::string("not a hex digit: '") + c + "'");
  };
  std::vector<std::uint8_t> out(text.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::uint8_t>(nibble(text[2 * i]) * 16 + nibble(text[2 * i + 1]));
  return out;
}

std::vector<std::uint8_t> encode_frame(std::span<const std::uint8_t> key, const Frame& f) {
  if (f.shape.size() > 4) throw std::invalid_argument("frame: more than 4 dimensions");
  std::size_t count = f.shape.empty() ? 0 : 1;
  for (auto d : f.shape) count *= d;
  if (count * itemsize(f.dtype) != f.payload.size())
    throw std::invalid_argument("frame: payload size does not match dtype and shape");
  std::vector<std::uint8_t> out;
  const std::size_t body = kHeaderBytes + f.meta.size() + f.payload.size() + kTagBytes;
  out.reserve(4 + body);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(body));
  out.insert(out.end(), {'A', 'S', 'T', 'M'});
  put<std::uint8_t>(out, kVersion);
  put<std::uint8_t>(out, static_cast<std::uint8_t>(f.kind));
  put<std::uint16_t>(out, f.op);
  put<std::uint64_t>(out, f.seq);
  put<std::uint8_t>(out, static_cast<std::uint8_t>(f.dtype));
  put<std::uint8_t>(out, static_cast<std::uint8_t>(f.shape.size()));
  put<std::uint16_t>(out, 0);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(f.meta.size()));
  for (std::size_t i = 0; i < 4; ++i) put<std::uint32_t>(out, i < f.shape.size() ? f.shape[i] : 0);
  out.insert(out.end(), f.meta.begin(), f.meta.end());
  out.insert(out.end(), f.payload.begin(), f.payload.end());
  const auto tag = hmac_sha256(key, {std::span<const std::uint8_t>(out).subspan(4)});
  out.insert(out.end(), tag.begin(), tag.end());
  return out;
}

Frame decode_body(std::span<const std::uint8_t> body, std::span<const std::uint8_t> key) {
  return decode_body(std::vector<std::uint8_t>(body.begin(), body.end()), key);
}

Frame decode_body(std::vector<std::uint8_t>&& body, std::span<const std::uint8_t> key) {
  if (body.size() < kHeaderBytes + kTagBytes)
    throw std::runtime_error("frame of " + std::to_string(body.size()) +
                             " bytes is shorter than a header and a tag");
  const std::uint8_t* h = body.data();
  if (std::memcmp(h, "ASTM", 4) != 0) throw std::runtime_error("frame: bad magic");
  if (h[4] != kVersion)
    throw std::runtime_error("frame: protocol version " + std::to_string(h[4]) +
                             "; this client speaks " + std::to_string(kVersion));
  Frame f;
  f.kind = static_cast<Kind>(h[5]);
  f.op = get<std::uint16_t>(h + 6);
  f.seq = get<std::uint64_t>(h + 8);
  const auto dtype = h[16];
  const auto ndim = h[17];
  const auto meta_len = get<std::uint32_t>(h + 20);
  if (dtype > 6 || ndim > 4 || (dtype == 0 && ndim != 0))
    throw std::runtime_error("frame: bad dtype " + std::to_string(dtype) + " / ndim " +
                             std::to_string(ndim));
  f.dtype = static_cast<DType>(dtype);
  std::uint64_t count = ndim ? 1 : 0;
  for (int i = 0; i < ndim; ++i) {
    f.shape.push_back(get<std::uint32_t>(h + 24 + 4 * i));
    count *= f.shape.back();
    if (count > body.size()) throw std::runtime_error("frame: shape larger than the frame");
  }
  const std::uint64_t payload = count * itemsize(f.dtype);
  if (kHeaderBytes + std::uint64_t{meta_len} + payload + kTagBytes != body.size())
    throw std::runtime_error("frame: length " + std::to_string(body.size()) +
                             " does not match its header (meta " + std::to_string(meta_len) +
                             ", payload " + std::to_string(payload) + ")");
  const auto signed_part = std::span<const std::uint8_t>(body).first(body.size() - kTagBytes);
  const auto tag = hmac_sha256(key, {signed_part});
  f.tag_ok = CRYPTO_memcmp(tag.data(), body.data() + signed_part.size(), kTagBytes) == 0;
  f.meta.assign(reinterpret_cast<const char*>(h + kHeaderBytes), meta_len);
  // The payload keeps the body's storage: the header and metadata are shifted out in place.
  const std::size_t start = kHeaderBytes + meta_len;
  f.payload = std::move(body);
  f.payload.erase(f.payload.begin(), f.payload.begin() + static_cast<std::ptrdiff_t>(start));
  f.payload.resize(payload);
  return f;
}

}  // namespace autostem::backends::dm
