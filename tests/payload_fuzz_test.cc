// SPDX-License-Identifier: Apache-2.0
// A short, deterministic run of the decoder's fuzz entry point in the
// suite: the seed corpus, then mutations of it (byte flips, inserts,
// truncations, splices). It must not crash (ASan/UBSan in --asan runs) and
// the entry point aborts on any round-trip mismatch. The long run is
// tools/fuzz (libFuzzer), described in docs/ipc.md.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  for (const char *name : {"list_int_str", "nested", "ints", "str8",
                           "float32", "map16", "array32"}) {
    std::ifstream in(std::string("fuzz/corpus/") + name, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    seeds.push_back(s.str());
  }
  return seeds;
}

std::string Mutate(std::string s, const std::vector<std::string> &seeds,
                   std::mt19937 &rng) {
  int edits = 1 + rng() % 4;
  for (int e = 0; e < edits; e++) {
    size_t pos = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 5) {
      case 0: if (!s.empty()) s[pos] = static_cast<char>(rng()); break;
      case 1: s.insert(s.begin() + pos, static_cast<char>(rng())); break;
      case 2: s.resize(pos); break;
      case 3: s += seeds[rng() % seeds.size()]; break;
      case 4: if (!s.empty()) s[pos] ^= static_cast<char>(1 << (rng() % 8));
    }
  }
  return s;
}

TEST(PayloadFuzz, SeedsAndMutationsNeverCrash) {
  std::vector<std::string> seeds = Seeds();
  for (auto &s : seeds) ASSERT_FALSE(s.empty()) << "missing seed corpus";
  std::mt19937 rng(12345);
  for (auto &s : seeds)
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(s.data()),
                           s.size());
  for (int i = 0; i < 200000; i++) {
    std::string m = Mutate(seeds[rng() % seeds.size()], seeds, rng);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(m.data()),
                           m.size());
  }
}

}  // namespace
