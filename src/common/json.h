// JSON output: nlohmann::ordered_json (fields stay in the order they are
// added) written as one line. Strings that are not valid UTF-8 are written
// with U+FFFD in place of the bad bytes instead of throwing.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace paxlock {

using Json = nlohmann::ordered_json;

inline std::string to_json_line(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace paxlock
