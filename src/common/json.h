// JSON output: nlohmann::ordered_json (fields stay in the order they are
// added) written as one line. Strings that are not valid UTF-8 are written
// with U+FFFD in place of the bad bytes instead of throwing, and every
// control character is escaped: nlohmann escapes C0 (\u0000-\u001f) itself;
// DEL and C1 (U+0080-U+009F, e.g. U+009B, a one-character CSI) it writes
// raw, so they are escaped here. Output read on a terminal (the CLI's
// --json, curl /status) cannot drive it, whatever text the service holds.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace paxlock {

using Json = nlohmann::ordered_json;

inline std::string to_json_line(const Json& j) {
  std::string raw = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  // Outside strings JSON is ASCII, and the dump is valid UTF-8, so these
  // bytes are DEL and C1 code points inside strings.
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    const auto next = i + 1 < raw.size() ? static_cast<unsigned char>(raw[i + 1]) : 0;
    if (c == 0x7F) {
      out += "\\u007f";
    } else if (c == 0xC2 && next >= 0x80 && next <= 0x9F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[next >> 4];
      out += kHex[next & 0xF];
      ++i;
    } else {
      out += raw[i];
    }
  }
  return out;
}

}  // namespace paxlock
