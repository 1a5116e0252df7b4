// <autostem/core/field.hpp>: the half-pixel field bounds and their one message format.
#include <autostem/core/field.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace {

using autostem::Position;

TEST(Field, BoundsAreHalfAPixelBeyondThePixelCentres) {
  EXPECT_TRUE(autostem::inside_field({-0.5, -0.5}, 4, 6));
  EXPECT_TRUE(autostem::inside_field({3.49, 5.49}, 4, 6));
  EXPECT_FALSE(autostem::inside_field({3.5, 0}, 4, 6));
  EXPECT_FALSE(autostem::inside_field({0, 5.5}, 4, 6));
  EXPECT_FALSE(autostem::inside_field({-0.51, 0}, 4, 6));
  EXPECT_FALSE(autostem::inside_field({0, -0.51}, 4, 6));
  EXPECT_FALSE(autostem::inside_field({0, 0}, 0, 0));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(autostem::inside_field({nan, 0}, 4, 6));
  EXPECT_FALSE(autostem::inside_field({0, std::numeric_limits<double>::infinity()}, 4, 6));
}

TEST(Field, CheckThrowsTheSessionMessageFormat) {
  EXPECT_NO_THROW(autostem::check_inside_field("proposed position", {1, 2}, 4, 6));
  try {
    autostem::check_inside_field("proposed position", {3, 70.25}, 64, 64);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "proposed position (row 3, col 70.25) is outside the field [-0.5, 63.5) x [-0.5, 63.5)");
  }
  EXPECT_EQ(autostem::outside_field_message("position", {std::nan(""), 2}, 4, 6),
            "position (row nan, col 2) is not finite");
  EXPECT_THROW(autostem::check_inside_field("p", {std::nan(""), 2}, 4, 6), std::invalid_argument);
}

}  // namespace
