// Bearer tokens: the other way (besides a client certificate) for a client
// to prove an identity.
//
// A token is "pxl_" followed by 64 lowercase hex digits (32 bytes from
// RAND_bytes); it is shown once, when it is made, and stored nowhere. The
// token file keeps only SHA-256 hashes, one token per line:
//
//   # comments and blank lines are ignored
//   <identity> <sha256 of the whole token string, 64 lowercase hex digits>
//
// An identity follows identity.h's client-name rule and may have several
// tokens (rotation: add the new one, move the clients, delete the old line).
// A file with a line that does not parse, or with the same hash twice, is
// refused as a whole, naming the line. A presented token is hashed and
// compared with every entry in constant time (CRYPTO_memcmp, no early exit),
// so the time taken does not depend on how much of a hash matched. Since
// only hashes are kept, a token is at least 128 bits of randomness: a stolen
// file does not yield usable tokens.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace paxlock::tls {

constexpr std::string_view kTokenPrefix = "pxl_";
constexpr size_t kTokenRandomBytes = 32;
// Longer presented tokens are refused before they are hashed.
constexpr size_t kTokenBytesMax = 256;

using TokenHash = std::array<uint8_t, 32>;

TokenHash token_hash(std::string_view token);
std::string hex(const TokenHash& hash);

class Tokens {
 public:
  struct Entry {
    std::string identity;
    TokenHash hash;
  };

  // `source` names the text in errors ("tokens:3: ...").
  static Result<Tokens> parse(std::string_view text, std::string_view source);
  static Result<Tokens> read(const std::string& path);

  // The identity the token proves, or nullopt.
  std::optional<std::string> identity_of(std::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  std::vector<Entry> entries_;
};

struct NewToken {
  std::string token;  // show once, never store
  std::string line;   // "<identity> <hash hex>\n" for the token file
};
Result<NewToken> generate_token(std::string_view identity);

// Appends `line` to the token file `path` (created with mode 0600 if
// missing), atomically: the old file plus the line replace the old file; the
// result must still parse.
Status append_token_line(const std::string& path, std::string_view line);

}  // namespace paxlock::tls
