#include "tls/tokens.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "tls/identity.h"
#include "tls/openssl.h"
#include "tls/pem.h"

namespace paxlock::tls {
namespace {

constexpr size_t kLinesMax = 100000;

std::optional<TokenHash> parse_hex(std::string_view s) {
  TokenHash out{};
  if (s.size() != 2 * out.size()) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(s[2 * i]);
    const int lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

TokenHash token_hash(std::string_view token) {
  TokenHash out;
  PAXLOCK_CHECK(SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                       out.data()) != nullptr);
  return out;
}

std::string hex(const TokenHash& hash) {
  std::string out;
  out.reserve(2 * hash.size());
  for (uint8_t b : hash)
    out += fmt::format("{:02x}", b);
  return out;
}

Result<Tokens> Tokens::parse(std::string_view text, std::string_view source) {
  Tokens t;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string_view raw = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_no;
    if (line_no > kLinesMax)
      return Status::error(EINVAL, fmt::format("{}: more than {} lines", source, kLinesMax));
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&](const std::string& why) {
      return Status::error(EINVAL, fmt::format("{}:{}: {}", source, line_no, why));
    };
    const size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos)
      return bad("expected '<identity> <sha256 hex>', found one word");
    const std::string_view identity = line.substr(0, space);
    const std::string_view hash_text = trim(line.substr(space + 1));
    if (auto why = invalid_client_name(identity)) return bad(*why);
    const auto hash = parse_hex(hash_text);
    if (!hash) return bad("the hash is not 64 lowercase hex digits (a SHA-256)");
    for (const Entry& e : t.entries_) {
      if (e.hash == *hash) return bad("the same token hash appears on an earlier line");
    }
    t.entries_.push_back({std::string(identity), *hash});
  }
  return t;
}

Result<Tokens> Tokens::read(const std::string& path) {
  auto text = read_small_file(path, "token file");
  if (!text.ok()) return text.status();
  return parse(*text, path);
}

std::optional<std::string> Tokens::identity_of(std::string_view token) const {
  if (token.empty() || token.size() > kTokenBytesMax) return std::nullopt;
  const TokenHash presented = token_hash(token);
  const Entry* found = nullptr;
  for (const Entry& e : entries_) {
    const bool same = CRYPTO_memcmp(e.hash.data(), presented.data(), presented.size()) == 0;
    if (same) found = &e;  // no early exit: every entry is compared
  }
  if (found == nullptr) return std::nullopt;
  return found->identity;
}

Result<NewToken> generate_token(std::string_view identity) {
  if (auto why = invalid_client_name(identity)) return Status::error(EINVAL, *why);
  TokenHash random;
  static_assert(sizeof(random) == kTokenRandomBytes);
  if (RAND_bytes(random.data(), random.size()) != 1)
    return Status::error(EIO, "no random bytes for a token: " + openssl_errors());
  NewToken t;
  t.token = std::string(kTokenPrefix) + hex(random);
  t.line = fmt::format("{} {}\n", identity, hex(token_hash(t.token)));
  return t;
}

Status append_token_line(const std::string& path, std::string_view line) {
  std::string text;
  if (file_exists(path)) {
    auto old = read_small_file(path, "token file");
    if (!old.ok()) return old.status();
    text = std::move(*old);
    if (!text.empty() && text.back() != '\n') text += '\n';
  } else {
    text = "# paxlock bearer tokens: <identity> <sha256 of the token> (docs/OPERATIONS.md)\n";
  }
  text += line;
  if (auto parsed = Tokens::parse(text, path); !parsed.ok()) return parsed.status();
  return write_file_atomically(path, text, 0600, true);
}

}  // namespace paxlock::tls
