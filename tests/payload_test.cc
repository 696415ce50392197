// SPDX-License-Identifier: Apache-2.0
// Values: construction, Python repr, MessagePack round trips, and a decoder
// that refuses malformed or oversized input with MPROC_EBADMSG.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "mproc.h"
#include "tests/ipc_test_util.h"

using namespace ipc_test;

namespace {

mproc_obj_t *Float(double d) {
  mproc_obj_t *v = nullptr;
  mproc_obj_float(&v, d);
  return v;
}

mproc_obj_t *Bytes(const std::string &b) {
  mproc_obj_t *v = nullptr;
  mproc_obj_bytes(&v, b.data(), b.size());
  return v;
}

mproc_obj_t *Dict(std::initializer_list<std::pair<mproc_obj_t *,
                                                    mproc_obj_t *>> kv) {
  mproc_obj_t *d = nullptr;
  mproc_obj_dict(&d);
  for (auto &p : kv) EXPECT_EQ(mproc_obj_dict_set(d, p.first, p.second), MPROC_OK);
  return d;
}

std::vector<unsigned char> Encode(const mproc_obj_t *v) {
  void *data = nullptr;
  size_t len = 0;
  EXPECT_EQ(mproc_obj_encode(v, &data, &len), MPROC_OK);
  std::vector<unsigned char> out(static_cast<unsigned char *>(data),
                                 static_cast<unsigned char *>(data) + len);
  free(data);
  return out;
}

mproc_status_t Decode(const std::vector<unsigned char> &bytes,
                      mproc_obj_t **out) {
  return mproc_obj_decode(out, bytes.data(), bytes.size());
}

TEST(PayloadRepr, ScalarsAsPython) {
  mproc_obj_t *v;
  ASSERT_EQ(mproc_obj_none(&v), MPROC_OK);
  EXPECT_EQ(ReprFree(v), "None");
  ASSERT_EQ(mproc_obj_bool(&v, 7), MPROC_OK);
  EXPECT_EQ(ReprFree(v), "True");
  ASSERT_EQ(mproc_obj_bool(&v, 0), MPROC_OK);
  EXPECT_EQ(ReprFree(v), "False");
  EXPECT_EQ(ReprFree(Int(-42)), "-42");
  EXPECT_EQ(ReprFree(Int(INT64_MIN)), "-9223372036854775808");
}

TEST(PayloadRepr, FloatsAsPython) {
  const std::pair<double, const char *> cases[] = {
      {1.0, "1.0"},           {0.1, "0.1"},
      {1e16, "1e+16"},        {1e15, "1000000000000000.0"},
      {123456789.125, "123456789.125"},
      {1e-5, "1e-05"},        {0.0001, "0.0001"},
      {-0.0, "-0.0"},         {2.5e-300, "2.5e-300"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {INFINITY, "inf"},      {-INFINITY, "-inf"},
      {NAN, "nan"},           {3.14159, "3.14159"},
      {100.0, "100.0"},       {1e22, "1e+22"},
  };
  for (auto &c : cases) EXPECT_EQ(ReprFree(Float(c.first)), c.second);
}

TEST(PayloadRepr, StringsAndBytesAsPython) {
  EXPECT_EQ(ReprFree(Str("x")), "'x'");
  EXPECT_EQ(ReprFree(Str("it's")), "\"it's\"");
  EXPECT_EQ(ReprFree(Str("a\"b")), "'a\"b'");
  EXPECT_EQ(ReprFree(Str("both'\"")), "'both\\'\"'");
  EXPECT_EQ(ReprFree(Str("\n\t\\")), "'\\n\\t\\\\'");
  EXPECT_EQ(ReprFree(Str("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")),
            "'\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80'");
  EXPECT_EQ(ReprFree(Str("\xc2\x85")), "'\\x85'");
  mproc_obj_t *v;
  ASSERT_EQ(mproc_obj_strn(&v, "\0a", 2), MPROC_OK);
  EXPECT_EQ(ReprFree(v), "'\\x00a'");
  EXPECT_EQ(ReprFree(Bytes(std::string("\0ab'\xff", 5))), "b\"\\x00ab'\\xff\"");
  EXPECT_EQ(ReprFree(Bytes("")), "b''");
}

TEST(PayloadRepr, ContainersAsPython) {
  EXPECT_EQ(ReprFree(List({Int(1), Int(2), Int(3)})), "[1, 2, 3]");
  EXPECT_EQ(ReprFree(List({})), "[]");
  EXPECT_EQ(ReprFree(Dict({{Int(1), Int(10)}})), "{1: 10}");
  EXPECT_EQ(ReprFree(Dict({{Str("a"), List({Str("x"), Float(1.5)})},
                           {Int(2), Dict({})}})),
            "{'a': ['x', 1.5], 2: {}}");
}

TEST(PayloadFormat, StrIsItsTextOthersRepr) {
  mproc_obj_t *v = Str("Thanks!");
  char *s;
  ASSERT_EQ(mproc_obj_format(v, &s), MPROC_OK);
  EXPECT_STREQ(s, "Thanks!");
  free(s);
  mproc_obj_free(v);
  v = List({Str("a")});
  ASSERT_EQ(mproc_obj_format(v, &s), MPROC_OK);
  EXPECT_STREQ(s, "['a']");
  free(s);
  mproc_obj_free(v);
}

TEST(PayloadRoundTrip, EveryKindSurvives) {
  std::string blob(100000, 'z');
  mproc_obj_t *v = List(
      {Int(0), Int(-1), Int(127), Int(128), Int(-33), Int(65536),
       Int(INT64_MAX), Int(INT64_MIN), Float(0.1), Float(-1e300),
       Str(""), Str("h\xc3\xa9llo"), Bytes(blob), Bytes(std::string("\0", 1)),
       Dict({{Str("k"), List({Int(1)})}, {Int(-5), Str("v")}}), List({})});
  mproc_obj_t *none, *yes;
  mproc_obj_none(&none);
  mproc_obj_bool(&yes, 1);
  mproc_obj_list_append(v, none);
  mproc_obj_list_append(v, yes);
  mproc_obj_t *back = nullptr;
  ASSERT_EQ(Decode(Encode(v), &back), MPROC_OK) << mproc_last_error();
  int eq = 0;
  ASSERT_EQ(mproc_obj_equal(v, back, &eq), MPROC_OK);
  EXPECT_TRUE(eq);
  EXPECT_EQ(Repr(v), Repr(back));
  mproc_obj_free(v);
  mproc_obj_free(back);
}

TEST(PayloadRoundTrip, WireFormatIsMessagePack) {
  mproc_obj_t *v = List({Int(1), Str("a")});
  EXPECT_EQ(Encode(v), (std::vector<unsigned char>{0x92, 0x01, 0xa1, 'a'}));
  mproc_obj_free(v);
}

// Ints take MessagePack's shortest form at every boundary (one encoding
// per value, as msgpack-c writes them), and the scalars their one form.
TEST(PayloadRoundTrip, IntsTakeTheirShortestForm) {
  struct Case {
    int64_t i;
    std::vector<unsigned char> bytes;
  };
  const std::vector<Case> cases = {
      {0, {0x00}},
      {127, {0x7f}},
      {128, {0xcc, 0x80}},
      {255, {0xcc, 0xff}},
      {256, {0xcd, 0x01, 0x00}},
      {65535, {0xcd, 0xff, 0xff}},
      {65536, {0xce, 0x00, 0x01, 0x00, 0x00}},
      {4294967295LL, {0xce, 0xff, 0xff, 0xff, 0xff}},
      {4294967296LL, {0xcf, 0, 0, 0, 1, 0, 0, 0, 0}},
      {INT64_MAX, {0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
      {-1, {0xff}},
      {-32, {0xe0}},
      {-33, {0xd0, 0xdf}},
      {-128, {0xd0, 0x80}},
      {-129, {0xd1, 0xff, 0x7f}},
      {-32768, {0xd1, 0x80, 0x00}},
      {-32769, {0xd2, 0xff, 0xff, 0x7f, 0xff}},
      {INT32_MIN, {0xd2, 0x80, 0x00, 0x00, 0x00}},
      {INT32_MIN - 1LL, {0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff}},
      {INT64_MIN, {0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}},
  };
  for (const Case &c : cases) {
    mproc_obj_t *v = Int(c.i), *back = nullptr;
    EXPECT_EQ(Encode(v), c.bytes) << c.i;
    ASSERT_EQ(Decode(c.bytes, &back), MPROC_OK) << c.i;
    int64_t got = 0;
    EXPECT_EQ(mproc_obj_get_int(back, &got), MPROC_OK);
    EXPECT_EQ(got, c.i);
    mproc_obj_free(back);
    mproc_obj_free(v);
  }
  mproc_obj_t *none, *yes, *no;
  mproc_obj_none(&none);
  mproc_obj_bool(&yes, 1);
  mproc_obj_bool(&no, 0);
  mproc_obj_t *v = List({Float(1.0)});
  mproc_obj_list_append(v, none);
  mproc_obj_list_append(v, yes);
  mproc_obj_list_append(v, no);
  EXPECT_EQ(Encode(v), (std::vector<unsigned char>{0x94, 0xcb, 0x3f, 0xf0, 0,
                                                   0, 0, 0, 0, 0, 0xc0, 0xc3,
                                                   0xc2}));
  mproc_obj_free(v);
}

TEST(PayloadAccessors, GettersCheckTheKind) {
  mproc_obj_t *v = Str("abc");
  const char *s;
  size_t len;
  int64_t i;
  ASSERT_EQ(mproc_obj_get_str(v, &s, &len), MPROC_OK);
  EXPECT_STREQ(s, "abc");
  EXPECT_EQ(len, 3u);
  EXPECT_EQ(mproc_obj_get_int(v, &i), MPROC_EINVAL);
  EXPECT_NE(std::string(mproc_last_error()).find("str"), std::string::npos);
  mproc_obj_free(v);
  v = Dict({{Str("a"), Int(1)}, {Int(2), Int(3)}});
  const mproc_obj_t *got, *k;
  mproc_obj_t *key = Int(2);
  ASSERT_EQ(mproc_obj_dict_get(v, key, &got), MPROC_OK);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(mproc_obj_get_int(got, &i), MPROC_OK);
  EXPECT_EQ(i, 3);
  EXPECT_EQ(mproc_obj_dict_set(v, key, Int(4)), MPROC_OK);  // replaces
  ASSERT_EQ(mproc_obj_len(v, &len), MPROC_OK);
  EXPECT_EQ(len, 2u);
  EXPECT_EQ(mproc_obj_dict_item(v, 1, &k, &got), MPROC_OK);
  EXPECT_EQ(Repr(got), "4");
  EXPECT_EQ(mproc_obj_dict_item(v, 2, &k, &got), MPROC_EINVAL);
  EXPECT_EQ(mproc_obj_list_get(v, 0, &got), MPROC_EINVAL);
  mproc_obj_free(v);
}

TEST(PayloadErrors, BadArguments) {
  mproc_obj_t *v = nullptr;
  EXPECT_EQ(mproc_obj_int(nullptr, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_obj_str(&v, nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_obj_bytes(&v, nullptr, 3), MPROC_EINVAL);
  EXPECT_EQ(mproc_obj_strn(&v, "\xff", 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_obj_strn(&v, "\xed\xa0\x80", 3), MPROC_EINVAL);  // surrogate
  EXPECT_EQ(mproc_obj_repr(nullptr, nullptr), MPROC_EINVAL);
  EXPECT_EQ(mproc_obj_decode(&v, nullptr, 1), MPROC_EINVAL);
  EXPECT_EQ(mproc_obj_free(nullptr), MPROC_OK);
  mproc_obj_t *list = List({}), *inner = List({}), *key = Float(1.0);
  EXPECT_EQ(mproc_obj_list_append(list, list), MPROC_EINVAL);  // itself
  ASSERT_EQ(mproc_obj_list_append(list, inner), MPROC_OK);
  EXPECT_EQ(mproc_obj_list_append(list, inner), MPROC_EINVAL);  // twice
  EXPECT_EQ(mproc_obj_free(inner), MPROC_EINVAL);  // owned by list
  mproc_obj_t *d = Dict({});
  mproc_obj_t *one = Int(1), *x = Str("x");
  EXPECT_EQ(mproc_obj_dict_set(d, key, one), MPROC_EINVAL);  // float key
  mproc_obj_t *outer = List({});
  mproc_obj_list_append(outer, d);
  EXPECT_EQ(mproc_obj_dict_set(d, x, outer), MPROC_EINVAL);  // cycle
  // On an error the caller still owns what it passed.
  mproc_obj_free(one);
  mproc_obj_free(x);
  mproc_obj_free(outer);
  mproc_obj_free(key);
  mproc_obj_free(list);
}

TEST(PayloadErrors, TooDeepIsRefused) {
  mproc_obj_t *v = List({});
  for (int i = 0; i < MPROC_OBJ_MAX_DEPTH + 5; i++) v = List({v});
  void *data;
  size_t len;
  char *s;
  EXPECT_EQ(mproc_obj_encode(v, &data, &len), MPROC_EINVAL);
  EXPECT_EQ(mproc_obj_repr(v, &s), MPROC_EINVAL);
  mproc_obj_free(v);
  std::vector<unsigned char> deep(100000, 0x91);  // [[[[...
  deep.push_back(0xc0);
  EXPECT_EQ(Decode(deep, &v), MPROC_EBADMSG);
}

TEST(PayloadDecoder, RefusesMalformedInput) {
  mproc_obj_t *v = nullptr;
  const std::vector<std::vector<unsigned char>> bad = {
      {},                                   // nothing
      {0x92, 0x01},                         // truncated array
      {0x01, 0x02},                         // trailing byte
      {0xa3, 'a'},                          // truncated str
      {0xa1, 0xff},                         // str not UTF-8
      {0xc1},                               // reserved
      {0xd4, 0x01, 0x02},                   // ext
      {0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0},    // uint64 beyond int64
      {0x81, 0xc0, 0x01},                   // None key
      {0x82, 0x01, 0x02, 0x01, 0x03},       // repeated key
      {0xdd, 0xff, 0xff, 0xff, 0xff},       // 4G-entry array in 5 bytes
      {0xdf, 0x7f, 0xff, 0xff, 0xff, 0x00}, // 2G-entry map
      {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},  // 4 GiB str
      {0xcb, 0x00},                         // truncated float
  };
  for (auto &b : bad) {
    EXPECT_EQ(Decode(b, &v), MPROC_EBADMSG) << b.size() << " bytes";
  }
}

TEST(PayloadDecoder, AcceptsOtherEncodersForms) {
  mproc_obj_t *v = nullptr;
  // float32 1.5, uint16 300, int8 -2, str8 "hi", bin8 "\x01"
  std::vector<unsigned char> in = {0x95, 0xca, 0x3f, 0xc0, 0x00, 0x00,
                                   0xcd, 0x01, 0x2c, 0xd0, 0xfe, 0xd9,
                                   0x02, 'h',  'i',  0xc4, 0x01, 0x01};
  ASSERT_EQ(Decode(in, &v), MPROC_OK) << mproc_last_error();
  EXPECT_EQ(ReprFree(v), "[1.5, 300, -2, 'hi', b'\\x01']");
}

// Builds an n-key dict, encodes, decodes, compares and looks every key up;
// returns the CPU seconds it took (gtest failures are recorded on the
// way). CPU time, not wall time: on a busy machine a run of tens of
// milliseconds is preempted for whole time slices where a run of a few is
// not, which made the ratio below ~31 under load with linear work.
double DictRoundTripSeconds(int n) {
  std::clock_t start = std::clock();
  mproc_obj_t *d = nullptr;
  if (mproc_obj_dict(&d) != MPROC_OK) { ADD_FAILURE(); return 0; }
  for (int i = 0; i < n; i++) {
    // Half int keys, half str keys: both kinds go through the index.
    mproc_obj_t *key =
        i % 2 ? Int(i) : Str(("k" + std::to_string(i)).c_str());
    EXPECT_EQ(mproc_obj_dict_set(d, key, Int(-i)), MPROC_OK);
  }
  std::vector<unsigned char> wire = Encode(d);
  mproc_obj_t *back = nullptr;
  if (Decode(wire, &back) != MPROC_OK) {
    ADD_FAILURE() << mproc_last_error();
    return 0;
  }
  int eq = 0;
  EXPECT_EQ(mproc_obj_equal(d, back, &eq), MPROC_OK);
  EXPECT_TRUE(eq);
  size_t len = 0;
  EXPECT_EQ(mproc_obj_len(back, &len), MPROC_OK);
  EXPECT_EQ(len, static_cast<size_t>(n));
  for (int i = 0; i < n; i++) {
    mproc_obj_t *key =
        i % 2 ? Int(i) : Str(("k" + std::to_string(i)).c_str());
    const mproc_obj_t *v = nullptr;
    EXPECT_EQ(mproc_obj_dict_get(back, key, &v), MPROC_OK);
    int64_t got = 1;
    if (v == nullptr) {
      ADD_FAILURE() << "key " << i << " is missing";
      mproc_obj_free(key);
      break;
    }
    EXPECT_EQ(mproc_obj_get_int(v, &got), MPROC_OK);
    EXPECT_EQ(got, -i);
    mproc_obj_free(key);
  }
  mproc_obj_t *absent = Int(n + 1);
  const mproc_obj_t *v = d;
  EXPECT_EQ(mproc_obj_dict_get(back, absent, &v), MPROC_OK);
  EXPECT_EQ(v, nullptr);
  mproc_obj_free(absent);
  // Insertion order survives the round trip.
  const mproc_obj_t *k = nullptr;
  if (mproc_obj_dict_item(back, n - 1, &k, &v) == MPROC_OK)
    EXPECT_EQ(Repr(k), std::to_string(n - 1));
  else
    ADD_FAILURE() << "no last item";
  if (mproc_obj_dict_item(back, 0, &k, &v) == MPROC_OK)
    EXPECT_EQ(Repr(k), "'k0'");
  else
    ADD_FAILURE() << "no first item";
  mproc_obj_free(back);
  mproc_obj_free(d);
  return static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
}

// Audit #15: set and get are O(1) (a hash index beside the entries), and
// decoding a dict is O(n). 64,000 keys took 7.5 s when both were linear.
// Not a timed bound (the suite runs under ASan and on busy machines): the
// cost of 8x the keys must grow like 8x, far from the 64x of quadratic
// work. Best of three runs of each size, so a hiccup cannot decide.
TEST(PayloadDict, SixtyFourThousandKeysCostLinearTime) {
  double small = 1e9, large = 1e9;
  for (int run = 0; run < 3; run++) {
    small = std::min(small, DictRoundTripSeconds(8000));
    large = std::min(large, DictRoundTripSeconds(64000));
    if (HasFailure()) return;
  }
  EXPECT_LT(large / small, 24.0)
      << "8,000 keys: " << small << " s; 64,000 keys: " << large << " s";
}

// Replacing a value keeps the key's place (Python's dict does too), in a
// dict big enough to be indexed and in a small one.
TEST(PayloadDict, ReplacingAValueKeepsInsertionOrder) {
  for (int size : {3, 100}) {
    mproc_obj_t *d = nullptr;
    ASSERT_EQ(mproc_obj_dict(&d), MPROC_OK);
    for (int i = 0; i < size; i++)
      ASSERT_EQ(mproc_obj_dict_set(d, Int(i), Int(i)), MPROC_OK);
    ASSERT_EQ(mproc_obj_dict_set(d, Int(1), Str("new")), MPROC_OK);
    size_t len = 0;
    ASSERT_EQ(mproc_obj_len(d, &len), MPROC_OK);
    EXPECT_EQ(len, static_cast<size_t>(size));
    const mproc_obj_t *k = nullptr, *v = nullptr;
    ASSERT_EQ(mproc_obj_dict_item(d, 1, &k, &v), MPROC_OK);
    EXPECT_EQ(Repr(k), "1");
    EXPECT_EQ(Repr(v), "'new'");
    mproc_obj_free(d);
  }
}

// A key repeated on the wire is refused (MPROC_EBADMSG, nothing leaked),
// in a small map and in one big enough to be indexed while decoding.
TEST(PayloadDict, RepeatedKeyOnTheWireIsRefusedAtAnySize) {
  for (int size : {2, 1000}) {
    std::vector<unsigned char> wire = {0xde, (unsigned char)(size >> 8),
                                       (unsigned char)size};
    for (int i = 0; i < size; i++) {
      int key = i == size - 1 ? 0 : i;  // the last key repeats the first
      wire.push_back(0xcd);
      wire.push_back((unsigned char)(key >> 8));
      wire.push_back((unsigned char)key);
      wire.push_back(0xc0);
    }
    mproc_obj_t *v = nullptr;
    EXPECT_EQ(Decode(wire, &v), MPROC_EBADMSG) << size;
    EXPECT_NE(std::string(mproc_last_error()).find("repeated dict key"),
              std::string::npos) << mproc_last_error();
    EXPECT_EQ(v, nullptr);
  }
}

}  // namespace
