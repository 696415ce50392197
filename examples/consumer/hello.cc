// SPDX-License-Identifier: Apache-2.0
// The same with include/mproc.hpp: a queue and an MPROC_CXX_TASK.
#include <cstdio>

#include "mproc.hpp"

MPROC_CXX_TASK(squares) {
  auto q = mproc::queue::attached(0);
  for (int i = 1; i <= arg.as<int>(); i++) q.put(mproc::obj::integer(i * i));
  return 0;
}

int main(int argc, char **argv) {
  try {
    mproc::init(argc, argv);
    auto q = mproc::queue::create();
    mproc::process p(squares, 4);
    p.attach(q).start();
    long sum = 0;
    for (int i = 0; i < 4; i++) sum += static_cast<long>(q.get(30).as_int());
    p.join();
    std::printf("sum of squares %ld (exit code %d)\n", sum, p.exitcode().value_or(-1));
    return sum == 30 ? 0 : 1;
  } catch (const mproc::error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
