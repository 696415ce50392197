// SPDX-License-Identifier: Apache-2.0
#include "conformance/runner.h"

#include <stdio.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "conformance/matcher.h"
#include "mproc.h"

namespace conformance {

const std::vector<std::string> &AllExamples() {
  static const std::vector<std::string> examples = {
      "01_creating_processes", "02_process_pool",   "03_pool_methods",
      "04_queue",              "05_pipe",           "06_value_array",
      "07_manager",            "08_synchronization", "09_daemon",
      "10_termination",        "11_process_pool_executor",
      "12_threads_vs_processes"};
  return examples;
}

const std::vector<std::string> &AllMethods() {
  // The platform's own list (its default first), so a platform without
  // fork skips those replays and a new start method is replayed at once.
  static const std::vector<std::string> methods = [] {
    std::vector<std::string> names;
    for (const char *const *m = mproc_all_start_methods(); *m; m++)
      names.push_back(*m);
    return names;
  }();
  return methods;
}

const char *VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kPass: return "PASS";
    case Verdict::kFail: return "FAIL";
    case Verdict::kTodo: return "TODO";
  }
  return "?";
}

static bool ReadFile(const std::string &path, std::string *out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

static bool Exists(const std::string &path) {
  return std::ifstream(path).good();
}

static std::string Quote(const std::string &s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Outcome Replay(const std::string &bin_dir, const std::string &expected_dir,
               const std::string &example, const std::string &method,
               int timeout_seconds, const std::string &runner) {
  Outcome o;
  std::string program = bin_dir + "/" + example;
  std::string expected_text;
  if (!Exists(program) || !ReadFile(expected_dir + "/" + example + ".txt",
                                    &expected_text)) {
    o.why = "not implemented yet";
    return o;
  }
  Expected expected;
  if (!ParseExpected(expected_text, &expected, &o.why)) {
    o.verdict = Verdict::kFail;
    o.why = "expected file: " + o.why;
    return o;
  }
  // The shell reports the exit status as a last line, so no OS-specific
  // decoding of pclose()'s value is needed.
  const std::string marker = "\n@@mproc-exit-status=";
  std::string command = "MPROC_START_METHOD=" + method + " timeout " +
                        std::to_string(timeout_seconds) + " " +
                        (runner.empty() ? "" : Quote(runner) + " ") +
                        Quote(program) + " 2>&1 </dev/null; printf '\\n" +
                        marker.substr(1) + "%d\\n' $?";
  FILE *pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    o.verdict = Verdict::kFail;
    o.why = "cannot run " + program;
    return o;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) o.output.append(buf, n);
  pclose(pipe);
  int code = -1;
  size_t at = o.output.rfind(marker);
  if (at != std::string::npos) {
    code = std::atoi(o.output.c_str() + at + marker.size());
    o.output.erase(at);
  }
  if (code != 0) {
    o.verdict = Verdict::kFail;
    o.why = code == 124 ? "timed out after " + std::to_string(timeout_seconds) + "s"
                        : "exit status " + std::to_string(code);
    return o;
  }
  o.verdict = Matches(expected, o.output, &o.why) ? Verdict::kPass : Verdict::kFail;
  return o;
}

}  // namespace conformance
