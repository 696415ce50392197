// SPDX-License-Identifier: Apache-2.0
// Replays every guide example under every start method, shows each
// program's output, one verdict line per example and method, and a total:
//   replay [--runner=CMD --methods=M,... --label=NAME] BIN_DIR EXPECTED_DIR
// With --runner the programs are cross-built ones run through CMD (wine):
// their start methods are then --methods (what the target platform's
// mproc_all_start_methods says, not this host's), and the total reads
// "conformance (NAME): ...".
// Exit status: 0 when nothing failed (TODO is not a failure).
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "conformance/runner.h"

// The value of --name=VALUE in arg, if arg is that option.
static bool Option(const std::string &arg, const std::string &name,
                   std::string *value) {
  std::string prefix = "--" + name + "=";
  if (arg.compare(0, prefix.size(), prefix) != 0) return false;
  *value = arg.substr(prefix.size());
  return true;
}

int main(int argc, char **argv) {
  std::string runner, method_list, label;
  std::vector<std::string> args;
  for (int i = 1; i < argc; i++)
    if (!Option(argv[i], "runner", &runner) &&
        !Option(argv[i], "methods", &method_list) &&
        !Option(argv[i], "label", &label))
      args.push_back(argv[i]);
  if (args.size() != 2 || (!runner.empty() && method_list.empty())) {
    std::fprintf(stderr,
                 "usage: %s [--runner=CMD --methods=M,... --label=NAME] "
                 "BIN_DIR EXPECTED_DIR\n",
                 argv[0]);
    return 2;
  }
  std::vector<std::string> methods = conformance::AllMethods();
  if (!method_list.empty()) {
    methods.clear();
    std::string::size_type start = 0, comma;
    while ((comma = method_list.find(',', start)) != std::string::npos) {
      methods.push_back(method_list.substr(start, comma - start));
      start = comma + 1;
    }
    methods.push_back(method_list.substr(start));
  }
  using conformance::Verdict;
  std::vector<std::string> verdicts;
  std::map<std::string, int> passed;
  bool failed = false;
  for (const std::string &example : conformance::AllExamples()) {
    for (const std::string &method : methods) {
      conformance::Outcome o = conformance::Replay(args[0], args[1], example,
                                                   method, 120, runner);
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
  std::string summary =
      label.empty() ? "conformance:" : "conformance (" + label + "):";
  const char *sep = " ";
  for (const std::string &method : methods) {
    summary += sep + std::to_string(passed[method]) + "/" +
               std::to_string(total) + " " + method;
    sep = ", ";
  }
  std::printf("%s\n", summary.c_str());
  return failed ? 1 : 0;
}
