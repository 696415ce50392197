// SPDX-License-Identifier: Apache-2.0
#include "conformance/matcher.h"

#include <cstdio>
#include <regex>
#include <sstream>

namespace conformance {

std::vector<std::string> SplitLines(const std::string &text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

bool ParseExpected(const std::string &text, Expected *out, std::string *error) {
  out->items.clear();
  bool in_unordered = false;
  int repeat_min = -1, repeat_max = -1;
  int number = 0;
  for (const std::string &line : SplitLines(text)) {
    number++;
    if (line.empty() || line[0] == '#') continue;
    int a, b;
    char tail;
    if (line == "{unordered}") {
      if (in_unordered) {
        *error = "line " + std::to_string(number) + ": nested {unordered}";
        return false;
      }
      in_unordered = true;
      out->items.push_back(Item{Item::kUnordered, {}, 1, 1});
    } else if (line == "{end}") {
      if (!in_unordered) {
        *error = "line " + std::to_string(number) + ": {end} without {unordered}";
        return false;
      }
      in_unordered = false;
    } else if (std::sscanf(line.c_str(), "{repeat %d-%d%c", &a, &b, &tail) ==
                   3 &&
               tail == '}') {
      if (a < 0 || b < a) {
        *error = "line " + std::to_string(number) + ": bad repeat range";
        return false;
      }
      repeat_min = a;
      repeat_max = b;
    } else if (in_unordered) {
      out->items.back().patterns.push_back(line);
    } else if (repeat_min >= 0) {
      out->items.push_back(Item{Item::kRepeat, {line}, repeat_min, repeat_max});
      repeat_min = repeat_max = -1;
    } else {
      out->items.push_back(Item{Item::kLine, {line}, 1, 1});
    }
  }
  if (in_unordered) {
    *error = "{unordered} without {end}";
    return false;
  }
  return true;
}

namespace {

bool LineMatches(const std::string &pattern, const std::string &line) {
  return std::regex_match(line, std::regex(pattern));
}

// Can patterns match lines[at, at + n) one to one, in any order?
bool MatchUnordered(const std::vector<std::string> &patterns,
                    const std::vector<std::string> &lines, size_t at,
                    std::vector<bool> *used, size_t k) {
  if (k == patterns.size()) return true;
  for (size_t i = 0; i < patterns.size(); i++) {
    if ((*used)[i] || !LineMatches(patterns[i], lines[at + k])) continue;
    (*used)[i] = true;
    if (MatchUnordered(patterns, lines, at, used, k + 1)) return true;
    (*used)[i] = false;
  }
  return false;
}

struct Matcher {
  const Expected &expected;
  const std::vector<std::string> &lines;
  size_t deepest_line = 0;  // for the report: how far a match ever got
  size_t deepest_item = 0;

  bool Match(size_t item, size_t at) {
    if (at > deepest_line || (at == deepest_line && item > deepest_item)) {
      deepest_line = at;
      deepest_item = item;
    }
    if (item == expected.items.size()) return at == lines.size();
    const Item &it = expected.items[item];
    if (it.kind == Item::kUnordered) {
      size_t n = it.patterns.size();
      if (lines.size() - at < n) return false;
      std::vector<bool> used(n, false);
      return MatchUnordered(it.patterns, lines, at, &used, 0) &&
             Match(item + 1, at + n);
    }
    // kLine is a repeat of exactly one.
    int count = 0;
    while (count < it.min) {
      if (at + count >= lines.size() || !LineMatches(it.patterns[0], lines[at + count]))
        return false;
      count++;
    }
    for (;;) {
      if (Match(item + 1, at + count)) return true;
      if (count >= it.max || at + count >= lines.size() ||
          !LineMatches(it.patterns[0], lines[at + count]))
        return false;
      count++;
    }
  }
};

}  // namespace

bool Matches(const Expected &expected, const std::string &output,
             std::string *why) {
  std::vector<std::string> lines = SplitLines(output);
  Matcher m{expected, lines};
  if (m.Match(0, 0)) return true;
  std::ostringstream out;
  out << "output line " << m.deepest_line + 1 << " ";
  if (m.deepest_line < lines.size())
    out << "'" << lines[m.deepest_line] << "'";
  else
    out << "(end of output)";
  out << " does not match ";
  if (m.deepest_item < expected.items.size())
    out << "'" << expected.items[m.deepest_item].patterns.front() << "'"
        << (expected.items[m.deepest_item].kind == Item::kUnordered
                ? " (unordered block)"
                : "");
  else
    out << "(end of expected output)";
  *why = out.str();
  return false;
}

}  // namespace conformance
