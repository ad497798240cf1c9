#include <gtest/gtest.h>

#include "explore/explorer.h"

namespace paxlock::explore {
namespace {

TEST(Explore, Placeholder) {
  SUCCEED();
}

}  // namespace
}  // namespace paxlock::explore
