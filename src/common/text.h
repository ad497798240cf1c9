// The one rule for text that names things (lock names, owners) and the one
// way to show untrusted text on a terminal. A name must be valid UTF-8
// (no overlong forms, surrogates or code points past U+10FFFF) without
// control characters: C0 (U+0000-U+001F), DEL (U+007F) and C1
// (U+0080-U+009F, e.g. U+009B, a one-character CSI). The replicas refuse
// other names (docs/LOCKS.md) and the CLI checks them before sending.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace paxlock {

// The length of the UTF-8 sequence at s[i], or 0 if it is not valid there.
inline size_t utf8_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n = 0;
  uint32_t cp = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// A C0 control or DEL (one byte), or a C1 control (the two bytes C2 80 to
// C2 9F) at s[i]: how many bytes it takes, 0 if there is none.
inline size_t control_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x20 || c == 0x7F) return 1;
  if (c == 0xC2 && i + 1 < s.size()) {
    const auto d = static_cast<unsigned char>(s[i + 1]);
    if (d >= 0x80 && d <= 0x9F) return 2;
  }
  return 0;
}

// Why `s` is not acceptable text, as the end of a sentence that starts with
// what it is ("a lock name cannot contain control characters (byte 0x0a at
// offset 3)"), or nullopt if it is fine. Says nothing about its length.
inline std::optional<std::string> text_problem(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (control_length(s, i) != 0) {
      return fmt::format("cannot contain control characters (byte 0x{:02x} at offset {})",
                         static_cast<unsigned char>(s[i]), i);
    }
    const size_t n = utf8_length(s, i);
    if (n == 0)
      return fmt::format("must be valid UTF-8 (bad byte 0x{:02x} at offset {})",
                         static_cast<unsigned char>(s[i]), i);
    i += n;
  }
  return std::nullopt;
}

// `s` for a terminal: every control character and every byte that is not
// part of valid UTF-8 as \xHH, and a backslash as \\ (so the form is
// unambiguous).
inline std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = control_length(s, i) != 0 ? 0 : utf8_length(s, i);
    if (n == 0) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    if (s[i] == '\\') out += '\\';
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace paxlock
