// SPDX-License-Identifier: Apache-2.0
// Replays each guide example under each start method and compares its
// output with conformance/expected/. Not-yet-written examples are skipped
// with a TODO message (tools/replay lists them too).
#include <gtest/gtest.h>

#include <tuple>

#include "conformance/matcher.h"
#include "conformance/runner.h"

namespace {

using Param = std::tuple<std::string, std::string>;

class Conformance : public ::testing::TestWithParam<Param> {};

TEST_P(Conformance, MatchesPython) {
  const auto &[example, method] = GetParam();
  conformance::Outcome o = conformance::Replay(
      "conformance", "conformance/expected", example, method, 120);
  if (o.verdict == conformance::Verdict::kTodo)
    GTEST_SKIP() << "TODO " << example << " " << method << ": " << o.why;
  EXPECT_EQ(o.verdict, conformance::Verdict::kPass)
      << o.why << "\n--- output ---\n" << o.output;
}

INSTANTIATE_TEST_SUITE_P(
    Examples, Conformance,
    ::testing::Combine(::testing::ValuesIn(conformance::AllExamples()),
                       ::testing::ValuesIn(conformance::AllMethods())),
    [](const ::testing::TestParamInfo<Param> &info) {
      return std::get<0>(info.param) + "_" + std::get<1>(info.param);
    });

// The matcher itself: each directive accepts what it should and no more.
conformance::Expected Parse(const std::string &text) {
  conformance::Expected e;
  std::string error;
  EXPECT_TRUE(conformance::ParseExpected(text, &e, &error)) << error;
  return e;
}

TEST(Matcher, LiteralLinesMustMatchInOrder) {
  auto e = Parse("a\nb\\d+\n");
  std::string why;
  EXPECT_TRUE(conformance::Matches(e, "a\nb12\n", &why));
  EXPECT_FALSE(conformance::Matches(e, "b12\na\n", &why));
  EXPECT_FALSE(conformance::Matches(e, "a\nb12\nextra\n", &why));
  EXPECT_FALSE(conformance::Matches(e, "a\n", &why));
}

TEST(Matcher, UnorderedBlockAcceptsAnyOrderButEveryLineOnce) {
  auto e = Parse("{unordered}\nx 1\nx 2\n{end}\nlast\n");
  std::string why;
  EXPECT_TRUE(conformance::Matches(e, "x 2\nx 1\nlast\n", &why));
  EXPECT_FALSE(conformance::Matches(e, "x 1\nx 1\nlast\n", &why));
  EXPECT_FALSE(conformance::Matches(e, "x 1\nlast\nx 2\n", &why));
}

TEST(Matcher, RepeatHonoursItsBounds) {
  auto e = Parse("{repeat 2-3}\nw\ndone\n");
  std::string why;
  EXPECT_FALSE(conformance::Matches(e, "w\ndone\n", &why));
  EXPECT_TRUE(conformance::Matches(e, "w\nw\ndone\n", &why));
  EXPECT_TRUE(conformance::Matches(e, "w\nw\nw\ndone\n", &why));
  EXPECT_FALSE(conformance::Matches(e, "w\nw\nw\nw\ndone\n", &why));
}

TEST(Matcher, SyntaxErrorsAreReported) {
  conformance::Expected e;
  std::string error;
  EXPECT_FALSE(conformance::ParseExpected("{unordered}\na\n", &e, &error));
  EXPECT_FALSE(conformance::ParseExpected("{end}\n", &e, &error));
  EXPECT_FALSE(conformance::ParseExpected("{repeat 3-1}\na\n", &e, &error));
}

}  // namespace
