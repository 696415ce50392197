/* SPDX-License-Identifier: Apache-2.0 */
// Runs the guide's examples and judges their output.
#ifndef MPROC_CONFORMANCE_RUNNER_H
#define MPROC_CONFORMANCE_RUNNER_H

#include <string>
#include <vector>

namespace conformance {

// The guide's twelve examples, in order: program and expected-file stem.
const std::vector<std::string> &AllExamples();
// The start methods every example is replayed under.
const std::vector<std::string> &AllMethods();

enum class Verdict { kPass, kFail, kTodo };
const char *VerdictName(Verdict v);

struct Outcome {
  Verdict verdict = Verdict::kTodo;
  std::string output;  // stdout and stderr, merged
  std::string why;     // for kFail and kTodo
};

// Runs bin_dir/<example> with MPROC_START_METHOD=method and compares with
// expected_dir/<example>.txt. A missing program or expected file is kTodo.
// runner, when not empty, is a command the program is run through (a
// cross-built program under an emulator: tools/replay --windows, wine).
Outcome Replay(const std::string &bin_dir, const std::string &expected_dir,
               const std::string &example, const std::string &method,
               int timeout_seconds, const std::string &runner = "");

}  // namespace conformance

#endif
