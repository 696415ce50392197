/* SPDX-License-Identifier: Apache-2.0 */
// Compares a program's output with an expected-output file.
//
// Expected files hold one regular expression (ECMAScript) per output line,
// matched against the whole line. Lines starting with '#' and blank lines
// are ignored. Two directives cover what legitimately varies between runs:
//   {unordered} ... {end}  the lines between match the same number of
//                          output lines in any order (processes racing);
//   {repeat A-B}           the next pattern matches A to B consecutive lines
//                          (a loop racing a timer).
#ifndef MPROC_CONFORMANCE_MATCHER_H
#define MPROC_CONFORMANCE_MATCHER_H

#include <string>
#include <vector>

namespace conformance {

// Parses an expected file's text; on a syntax error returns false and says
// why in *error.
struct Expected;
bool ParseExpected(const std::string &text, Expected *out, std::string *error);

// True when output matches; otherwise *why explains the first mismatch.
bool Matches(const Expected &expected, const std::string &output,
             std::string *why);

struct Item {
  enum Kind { kLine, kRepeat, kUnordered } kind = kLine;
  std::vector<std::string> patterns;  // one, except for kUnordered
  int min = 1, max = 1;
};

struct Expected {
  std::vector<Item> items;
};

std::vector<std::string> SplitLines(const std::string &text);

}  // namespace conformance

#endif
