// SPDX-License-Identifier: Apache-2.0
// Replays every guide example under every start method, shows each
// program's output, one verdict line per example and method, and a total:
//   replay BIN_DIR EXPECTED_DIR
// Exit status: 0 when nothing failed (TODO is not a failure).
#include <cstdio>
#include <map>
#include <string>

#include "conformance/runner.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s BIN_DIR EXPECTED_DIR\n", argv[0]);
    return 2;
  }
  using conformance::Verdict;
  std::vector<std::string> verdicts;
  std::map<std::string, int> passed;
  bool failed = false;
  for (const std::string &example : conformance::AllExamples()) {
    for (const std::string &method : conformance::AllMethods()) {
      conformance::Outcome o =
          conformance::Replay(argv[1], argv[2], example, method, 120);
      if (o.verdict != Verdict::kTodo) {
        std::printf("=== %s (%s) ===\n%s", example.c_str(), method.c_str(),
                    o.output.c_str());
        if (!o.output.empty() && o.output.back() != '\n') std::printf("\n");
        std::fflush(stdout);
      }
      std::string line = std::string(conformance::VerdictName(o.verdict)) +
                         " " + example + " " + method;
      if (o.verdict == Verdict::kFail) line += "  (" + o.why + ")";
      verdicts.push_back(line);
      if (o.verdict == Verdict::kPass) passed[method]++;
      if (o.verdict == Verdict::kFail) failed = true;
    }
  }
  std::printf("\n");
  for (const std::string &line : verdicts) std::printf("%s\n", line.c_str());
  size_t total = conformance::AllExamples().size();
  // One count per method the platform has, in its order (default first).
  std::string summary = "conformance:";
  const char *sep = " ";
  for (const std::string &method : conformance::AllMethods()) {
    summary += sep + std::to_string(passed[method]) + "/" +
               std::to_string(total) + " " + method;
    sep = ", ";
  }
  std::printf("%s\n", summary.c_str());
  return failed ? 1 : 0;
}
