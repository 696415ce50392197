// SPDX-License-Identifier: Apache-2.0
/**
 * @file
 * mproc.hpp: a thin, header-only C++17 layer over mproc.h.
 *
 * - Every object of the C API has an RAII owner (mproc::process, queue,
 *   connection, listener, value, array, shared_memory, mutex (Lock/RLock),
 *   semaphore,
 *   event, condition, barrier, obj): move-only, released by its destructor
 *   with the matching _free call (_free releases; _close, where CPython
 *   has a close, only closes).
 * - A failing call throws mproc::error, carrying the status (.status(),
 *   .name() "MPROC_EEMPTY") and mproc_last_error()'s detail (.what()).
 *   Expected outcomes are not errors: a timed-out wait returns false (or an
 *   empty std::optional), never throws.
 * - Tasks: MPROC_CXX_TASK(name) { ... } defines a task registered by name
 *   (what spawn needs) whose body gets an mproc::task_arg and may throw (an
 *   escaping exception is printed and makes the exit code 1).
 *   mproc::task_registration registers a captureless lambda or function under
 *   a name at static-initialization time.
 *
 * Objects a child finds attached (queue::attached(i), ...) are views: the
 * runtime owns them and their destructor releases nothing.
 */
#ifndef MPROC_HPP
#define MPROC_HPP

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mproc.h"

namespace mproc {

/* ---- errors ------------------------------------------------------- */

/// The exception a failing call throws: the status and mproc_last_error()'s detail.
class error : public std::runtime_error {
 public:
  /// An error for status, what() being "NAME: detail".
  error(mproc_status_t status, const std::string &detail)
      : std::runtime_error(std::string(mproc_status_name(status)) + ": " +
                           detail),
        status_(status) {}
  /// The status of the failed call.
  mproc_status_t status() const noexcept { return status_; }
  /// The status's symbolic name ("MPROC_EEMPTY").
  const char *name() const noexcept { return mproc_status_name(status_); }

 private:
  mproc_status_t status_;
};

/** Throws mproc::error unless st is MPROC_OK; returns st otherwise. */
inline mproc_status_t check(mproc_status_t st) {
  if (st != MPROC_OK) throw error(st, mproc_last_error());
  return st;
}

/** For waits: true on MPROC_OK, false on the status that means "not now"
 * (MPROC_ETIMEDOUT by default), throws on anything else. */
inline bool check_wait(mproc_status_t st,
                       mproc_status_t not_now = MPROC_ETIMEDOUT) {
  if (st == MPROC_OK) return true;
  if (st == not_now) return false;
  throw error(st, mproc_last_error());
}

/// A timeout that waits without limit (MPROC_FOREVER).
constexpr double forever = MPROC_FOREVER;

/* ---- runtime ------------------------------------------------------ */

/// mproc_init(): call first in main().
inline void init(int argc, char **argv) { check(mproc_init(argc, argv)); }
/// mproc_version(): the linked library's MAJOR * 10000 + MINOR * 100 + PATCH.
inline unsigned version() noexcept { return mproc_version(); }
/// mproc_version_string(): the linked library's "MAJOR.MINOR.PATCH".
inline std::string_view version_string() noexcept {
  return mproc_version_string();
}
/// mproc_status_name(): a status's symbolic name.
inline std::string_view status_name(mproc_status_t st) noexcept {
  return mproc_status_name(st);
}
/// mproc_set_start_method(): sets the default start method.
inline void set_start_method(const char *method) {
  check(mproc_set_start_method(method));
}
/// mproc_all_start_methods(): the platform's start methods, its default first.
inline std::vector<std::string> all_start_methods() {
  std::vector<std::string> out;
  for (const char *const *m = mproc_all_start_methods(); m && *m; m++)
    out.emplace_back(*m);
  return out;
}
/** A context is static (never freed): a plain pointer. */
inline mproc_context_t *get_context(const char *method = nullptr) {
  mproc_context_t *ctx = nullptr;
  check(mproc_get_context(method, &ctx));
  return ctx;
}
/// mproc_context_method(): the start method of a context (nullptr: the default).
inline std::string context_method(const mproc_context_t *ctx) {
  const char *m = nullptr;
  check(mproc_context_method(ctx, &m));
  return m;
}
/// mproc_cpu_count(): the number of CPUs online.
inline int cpu_count() {
  int n = 0;
  check(mproc_cpu_count(&n));
  return n;
}
/// mproc_sleep(): sleeps for seconds.
inline void sleep(double seconds) { check(mproc_sleep(seconds)); }

/* ---- tasks -------------------------------------------------------- */

/** The argument bytes a task received. */
struct task_arg {
  /// The argument bytes (nullptr when size is 0).
  const void *data = nullptr;
  /// The number of argument bytes.
  std::size_t size = 0;
  /** A copy of the argument as T (it must have been given as a T). */
  template <class T>
  T as() const {
    static_assert(std::is_trivially_copyable_v<T>,
                  "task arguments are bytes: T must be trivially copyable");
    if (size != sizeof(T) || (data == nullptr && size > 0))
      throw error(MPROC_EINVAL, "task_arg::as: argument size mismatch");
    T v;
    std::memcpy(static_cast<void *>(&v), data, sizeof(T));
    return v;
  }
  /// The argument bytes as a string view.
  std::string_view str() const {
    return {static_cast<const char *>(data), size};
  }
};

namespace detail {
/** Runs a C++ task body; an escaping exception becomes exit code 1. */
inline int run_task(int (*body)(task_arg), const void *arg,
                    std::size_t len) noexcept {
  try {
    return body(task_arg{arg, len});
  } catch (const std::exception &e) {
    std::fprintf(stderr, "mproc task: uncaught exception: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "mproc task: uncaught exception\n");
  }
  return 1;
}
}  // namespace detail

/** Registers fn under name when constructed: as a namespace-scope static it
 * runs before main in every process of the program, as spawn needs:
 *   static mproc::task_registration reg("square", +[](const void *a,
 *                                                     size_t n) { ...; });
 * Never throws (static initialization); ok()/status() tell the result. */
class task_registration {
 public:
  /// Registers fn under name (mproc_register_task); never throws.
  task_registration(const char *name, mproc_task_fn fn) noexcept
      : fn_(fn), status_(mproc_register_task(name, fn)) {}
  /// The registered function.
  mproc_task_fn fn() const noexcept { return fn_; }
  /// The status mproc_register_task returned.
  mproc_status_t status() const noexcept { return status_; }
  /// Whether the registration succeeded.
  bool ok() const noexcept { return status_ == MPROC_OK; }
  /// The registered function, so the object can be passed as a task.
  operator mproc_task_fn() const noexcept { return fn_; }

 private:
  mproc_task_fn fn_;
  mproc_status_t status_;
};

/* ---- the owner template ------------------------------------------- */

namespace detail {
/// The move-only RAII owner of a C object: Free releases it unless it is a view.
template <class T, mproc_status_t (*Free)(T *)>
class owner {
 public:
  owner() noexcept = default;
  /// Takes p; owned false makes a view that releases nothing.
  explicit owner(T *p, bool owned = true) noexcept : p_(p), owned_(owned) {}
  owner(const owner &) = delete;
  owner &operator=(const owner &) = delete;
  /// Takes over o's object; o is left empty.
  owner(owner &&o) noexcept
      : p_(std::exchange(o.p_, nullptr)), owned_(o.owned_) {}
  /// Releases this object, then takes over o's.
  owner &operator=(owner &&o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      owned_ = o.owned_;
    }
    return *this;
  }
  ~owner() { reset(); }

  /** Releases the object now (its _free); errors are ignored. */
  void reset() noexcept {
    if (p_ != nullptr && owned_) (void)Free(p_);
    p_ = nullptr;
  }
  /** Gives up ownership: the caller must free the returned pointer. */
  T *release() noexcept { return std::exchange(p_, nullptr); }
  /** The C object, for calls this layer does not wrap. */
  T *native() const noexcept { return p_; }
  /// Whether this owner releases the object (false for a view).
  bool owned() const noexcept { return owned_; }
  /// Whether it holds an object.
  explicit operator bool() const noexcept { return p_ != nullptr; }

 protected:
  T *p_ = nullptr;
  bool owned_ = true;
};
}  // namespace detail

/* ---- payload objects (mproc_obj_t) -------------------------------- */

/// A payload value (mproc_obj_t): what send/recv and put/get carry.
class obj : public detail::owner<mproc_obj_t, mproc_obj_free> {
 public:
  using owner::owner;

  /// mproc_obj_none(): None.
  static obj none() { return make(mproc_obj_none); }
  /// mproc_obj_bool(): a bool.
  static obj boolean(bool b) { return make(mproc_obj_bool, b ? 1 : 0); }
  /// mproc_obj_int(): an int.
  static obj integer(std::int64_t i) { return make(mproc_obj_int, i); }
  /// mproc_obj_float(): a float.
  static obj real(double d) { return make(mproc_obj_float, d); }
  /// mproc_obj_strn(): a str (UTF-8).
  static obj str(std::string_view s) {
    mproc_obj_t *o = nullptr;
    check(mproc_obj_strn(&o, s.data(), s.size()));
    return obj(o);
  }
  /// mproc_obj_bytes(): bytes (copied).
  static obj bytes(const void *p, std::size_t n) {
    mproc_obj_t *o = nullptr;
    check(mproc_obj_bytes(&o, p, n));
    return obj(o);
  }
  /// mproc_obj_list(): an empty list.
  static obj list() { return make(mproc_obj_list); }
  /// mproc_obj_dict(): an empty dict.
  static obj dict() { return make(mproc_obj_dict); }
  /** Decodes one MessagePack object. */
  static obj decode(const void *buf, std::size_t len) {
    mproc_obj_t *o = nullptr;
    check(mproc_obj_decode(&o, buf, len));
    return obj(o);
  }
  /** A view of a value inside a container (owned by the container). */
  static obj view(const mproc_obj_t *p) noexcept {
    return obj(const_cast<mproc_obj_t *>(p), false);
  }

  /// mproc_obj_kind(): the value's kind.
  mproc_kind_t kind() const {
    mproc_kind_t k;
    check(mproc_obj_kind(p_, &k));
    return k;
  }
  /// mproc_obj_get_bool(): the bool.
  bool as_bool() const {
    int b = 0;
    check(mproc_obj_get_bool(p_, &b));
    return b != 0;
  }
  /// mproc_obj_get_int(): the int.
  std::int64_t as_int() const {
    std::int64_t i = 0;
    check(mproc_obj_get_int(p_, &i));
    return i;
  }
  /// mproc_obj_get_float(): the float.
  double as_float() const {
    double d = 0;
    check(mproc_obj_get_float(p_, &d));
    return d;
  }
  /// mproc_obj_get_str(): the str, a view into the value.
  std::string_view as_str() const {
    const char *s = nullptr;
    std::size_t n = 0;
    check(mproc_obj_get_str(p_, &s, &n));
    return {s, n};
  }
  /// mproc_obj_get_bytes(): a copy of the bytes.
  std::string as_bytes() const {
    const void *b = nullptr;
    std::size_t n = 0;
    check(mproc_obj_get_bytes(p_, &b, &n));
    return std::string(static_cast<const char *>(b), n);
  }
  /// mproc_obj_len(): the length of a str, bytes, list or dict.
  std::size_t size() const {
    std::size_t n = 0;
    check(mproc_obj_len(p_, &n));
    return n;
  }
  /** Appends item to this list; the list takes it over. */
  obj &append(obj item) {
    check(mproc_obj_list_append(p_, item.native()));
    item.release();
    return *this;
  }
  /** Sets key to value in this dict; the dict takes both over. */
  obj &set(obj key, obj value) {
    check(mproc_obj_dict_set(p_, key.native(), value.native()));
    key.release();
    value.release();
    return *this;
  }
  /// mproc_obj_list_get(): the list's element at index, a view.
  obj operator[](std::size_t index) const {
    const mproc_obj_t *item = nullptr;
    check(mproc_obj_list_get(p_, index, &item));
    return view(item);
  }
  /** The dict's value under key, or an empty optional. */
  std::optional<obj> find(const obj &key) const {
    const mproc_obj_t *v = nullptr;
    check(mproc_obj_dict_get(p_, key.native(), &v));
    if (v == nullptr) return std::nullopt;
    return view(v);
  }
  /// mproc_obj_dict_item(): the dict's key and value at index, views.
  std::pair<obj, obj> item(std::size_t index) const {
    const mproc_obj_t *k = nullptr, *v = nullptr;
    check(mproc_obj_dict_item(p_, index, &k, &v));
    return {view(k), view(v)};
  }
  /// mproc_obj_repr(): Python's repr().
  std::string repr() const { return take_string(mproc_obj_repr); }
  /// mproc_obj_format(): Python's str().
  std::string format() const { return take_string(mproc_obj_format); }
  /// mproc_obj_encode(): the MessagePack encoding.
  std::string encode() const {
    void *buf = nullptr;
    std::size_t n = 0;
    check(mproc_obj_encode(p_, &buf, &n));
    std::string s(static_cast<const char *>(buf), n);
    std::free(buf);
    return s;
  }
  /// mproc_obj_equal(): Python's ==.
  friend bool operator==(const obj &a, const obj &b) {
    int eq = 0;
    check(mproc_obj_equal(a.native(), b.native(), &eq));
    return eq != 0;
  }
  /// The negation of ==.
  friend bool operator!=(const obj &a, const obj &b) { return !(a == b); }

 private:
  template <class F, class... A>
  static obj make(F f, A... a) {
    mproc_obj_t *o = nullptr;
    check(f(&o, a...));
    return obj(o);
  }
  std::string take_string(mproc_status_t (*f)(const mproc_obj_t *,
                                              char **)) const {
    char *s = nullptr;
    check(f(p_, &s));
    std::string out(s);
    std::free(s);
    return out;
  }
};

/* ---- synchronization ---------------------------------------------- */

/** CPython's Lock (mutex::create) or RLock (mutex::recursive); named mutex
 * because it meets BasicLockable/Lockable (lock/unlock/try_lock), so
 * std::lock_guard and std::unique_lock work. acquire() is true when held, including after a
 * dead owner (MPROC_EOWNERDEAD: owner_died() says so), false on timeout. */
class mutex : public detail::owner<mproc_lock_t, mproc_lock_free> {
 public:
  using owner::owner;
  /// mproc_lock_create(): a Lock.
  static mutex create() { return make(mproc_lock_create); }
  /// mproc_rlock_create(): an RLock.
  static mutex recursive() { return make(mproc_rlock_create); }
  /// mproc_attached_lock(): the index-th attached object, a view.
  static mutex attached(std::size_t i) {
    mproc_lock_t *l = nullptr;
    check(mproc_attached_lock(i, &l));
    return mutex(l, false);
  }
  /// mproc_lock_acquire(): false on timeout.
  bool acquire(double timeout = forever) {
    mproc_status_t st = mproc_lock_acquire(p_, timeout);
    owner_died_ = st == MPROC_EOWNERDEAD;
    return owner_died_ || check_wait(st);
  }
  /// mproc_lock_release().
  void release() { check(mproc_lock_release(p_)); }
  /// Acquires without limit (Lockable).
  void lock() { acquire(forever); }
  /// Releases (Lockable).
  void unlock() { release(); }
  /// Tries once (Lockable).
  bool try_lock() { return acquire(0); }
  /// Whether the last acquire found that the previous owner had died holding it.
  bool owner_died() const noexcept { return owner_died_; }
  /// mproc_lock_is_recursive(): true for an RLock.
  bool is_recursive() const {
    int r = 0;
    check(mproc_lock_is_recursive(p_, &r));
    return r != 0;
  }

 private:
  static mutex make(mproc_status_t (*f)(mproc_lock_t **)) {
    mproc_lock_t *l = nullptr;
    check(f(&l));
    return mutex(l);
  }
  bool owner_died_ = false;
};

/// Semaphore and BoundedSemaphore (mproc_semaphore_t).
class semaphore : public detail::owner<mproc_semaphore_t, mproc_semaphore_free> {
 public:
  using owner::owner;
  /// mproc_semaphore_create(): a Semaphore.
  static semaphore create(unsigned value = 1) {
    mproc_semaphore_t *s = nullptr;
    check(mproc_semaphore_create(&s, value));
    return semaphore(s);
  }
  /// mproc_bounded_semaphore_create(): a BoundedSemaphore.
  static semaphore bounded(unsigned value = 1) {
    mproc_semaphore_t *s = nullptr;
    check(mproc_bounded_semaphore_create(&s, value));
    return semaphore(s);
  }
  /// mproc_attached_semaphore(): the index-th attached object, a view.
  static semaphore attached(std::size_t i) {
    mproc_semaphore_t *s = nullptr;
    check(mproc_attached_semaphore(i, &s));
    return semaphore(s, false);
  }
  /// mproc_semaphore_acquire(): false on timeout.
  bool acquire(double timeout = forever) {
    return check_wait(mproc_semaphore_acquire(p_, timeout));
  }
  /// mproc_semaphore_release().
  void release() { check(mproc_semaphore_release(p_)); }
  /// Acquires without limit (Lockable).
  void lock() { acquire(forever); }
  /// Releases (Lockable).
  void unlock() { release(); }
  /// Tries once (Lockable).
  bool try_lock() { return acquire(0); }
  /// mproc_semaphore_get_value(): the current value.
  unsigned value() const {
    unsigned v = 0;
    check(mproc_semaphore_get_value(p_, &v));
    return v;
  }
};

/// Event (mproc_event_t).
class event : public detail::owner<mproc_event_t, mproc_event_free> {
 public:
  using owner::owner;
  /// mproc_event_create(): an Event, not set.
  static event create() {
    mproc_event_t *e = nullptr;
    check(mproc_event_create(&e));
    return event(e);
  }
  /// mproc_attached_event(): the index-th attached object, a view.
  static event attached(std::size_t i) {
    mproc_event_t *e = nullptr;
    check(mproc_attached_event(i, &e));
    return event(e, false);
  }
  /// mproc_event_set(): sets the flag, waking every waiter.
  void set() { check(mproc_event_set(p_)); }
  /// mproc_event_clear(): resets the flag.
  void clear() { check(mproc_event_clear(p_)); }
  /// mproc_event_is_set(): whether the flag is set.
  bool is_set() const {
    int s = 0;
    check(mproc_event_is_set(p_, &s));
    return s != 0;
  }
  /** true when the flag is set, false when the timeout passed first. */
  bool wait(double timeout = forever) {
    return check_wait(mproc_event_wait(p_, timeout));
  }
};

/// Condition (mproc_condition_t).
class condition : public detail::owner<mproc_condition_t, mproc_condition_free> {
 public:
  using owner::owner;
  /** With its own RLock (with == nullptr) or the given Lock/RLock, which
   * must outlive the condition. */
  static condition create(mproc::mutex *with = nullptr) {
    mproc_condition_t *c = nullptr;
    check(mproc_condition_create(&c, with ? with->native() : nullptr));
    return condition(c);
  }
  /// mproc_attached_condition(): the index-th attached object, a view.
  static condition attached(std::size_t i) {
    mproc_condition_t *c = nullptr;
    check(mproc_attached_condition(i, &c));
    return condition(c, false);
  }
  /// mproc_condition_acquire(): false on timeout.
  bool acquire(double timeout = forever) {
    mproc_status_t st = mproc_condition_acquire(p_, timeout);
    return st == MPROC_EOWNERDEAD || check_wait(st);
  }
  /// mproc_condition_release().
  void release() { check(mproc_condition_release(p_)); }
  /// Acquires without limit (Lockable).
  void lock() { acquire(forever); }
  /// Releases (Lockable).
  void unlock() { release(); }
  /// Tries once (Lockable).
  bool try_lock() { return acquire(0); }
  /** Waits for a notify (the condition must be held): false on timeout. */
  bool wait(double timeout = forever) {
    return check_wait(mproc_condition_wait(p_, timeout));
  }
  /** Waits until pred() is true (re-evaluated after each wake-up): false
   * when the timeout passed with pred() still false. */
  template <class Pred>
  bool wait_for(Pred pred, double timeout = forever) {
    struct ctx_t {
      Pred *pred;
      std::exception_ptr err;
    } ctx{&pred, nullptr};
    auto trampoline = [](void *c) -> int {
      auto *x = static_cast<ctx_t *>(c);
      if (x->err) return 1;
      try {
        return (*x->pred)() ? 1 : 0;
      } catch (...) {
        x->err = std::current_exception();
        return 1;
      }
    };
    mproc_status_t st = mproc_condition_wait_for(p_, trampoline, &ctx, timeout);
    if (ctx.err) std::rethrow_exception(ctx.err);
    return check_wait(st);
  }
  /// mproc_condition_notify(): wakes up to n waiters.
  void notify(std::size_t n = 1) { check(mproc_condition_notify(p_, n)); }
  /// mproc_condition_notify_all(): wakes every waiter.
  void notify_all() { check(mproc_condition_notify_all(p_)); }
};

/// Barrier (mproc_barrier_t).
class barrier : public detail::owner<mproc_barrier_t, mproc_barrier_free> {
 public:
  using owner::owner;
  /** action (may be null; an MPROC_TASK under spawn) runs in the last party
   * to arrive; timeout is the default of wait(). */
  static barrier create(unsigned parties, double timeout = forever,
                        mproc_task_fn action = nullptr,
                        const void *arg = nullptr, std::size_t arg_len = 0) {
    mproc_barrier_t *b = nullptr;
    check(mproc_barrier_create(&b, parties, action, arg, arg_len, timeout));
    return barrier(b);
  }
  /// mproc_attached_barrier(): the index-th attached object, a view.
  static barrier attached(std::size_t i) {
    mproc_barrier_t *b = nullptr;
    check(mproc_attached_barrier(i, &b));
    return barrier(b, false);
  }
  /** The party's index (0..parties-1); throws mproc::error with
   * MPROC_EBROKEN or MPROC_ETIMEDOUT when the barrier breaks. */
  unsigned wait() {
    unsigned index = 0;
    check(mproc_barrier_wait(p_, &index));
    return index;
  }
  /// wait() within timeout seconds (mproc_barrier_wait_timeout).
  unsigned wait(double timeout) {
    unsigned index = 0;
    check(mproc_barrier_wait_timeout(p_, &index, timeout));
    return index;
  }
  /// mproc_barrier_abort(): breaks the barrier.
  void abort() { check(mproc_barrier_abort(p_)); }
  /// mproc_barrier_reset(): back to the empty state.
  void reset() { check(mproc_barrier_reset(p_)); }
  /// mproc_barrier_parties(): the number of parties.
  unsigned parties() const {
    unsigned n = 0;
    check(mproc_barrier_parties(p_, &n));
    return n;
  }
  /// mproc_barrier_n_waiting(): the number of parties waiting.
  unsigned n_waiting() const {
    unsigned n = 0;
    check(mproc_barrier_n_waiting(p_, &n));
    return n;
  }
  /// mproc_barrier_broken(): whether the barrier is broken.
  bool broken() const {
    int b = 0;
    check(mproc_barrier_broken(p_, &b));
    return b != 0;
  }
};

/* ---- shared values, arrays and memory ----------------------------- */

/** The lock of a Value/Array: a view (the value owns it). */
inline mutex borrowed_lock(mproc_lock_t *l) { return mutex(l, false); }

/// A shared Value (mproc_value_t).
class value : public detail::owner<mproc_value_t, mproc_value_free> {
 public:
  using owner::owner;
  /** Value(typecode, initial) with its own RLock; raw(): RawValue, no lock;
   * with_lock(): Value(typecode, initial, lock=l) (l must outlive it).
   * initial points to one item of the typecode's type (nullptr: zero). */
  static value create(char typecode, const void *initial = nullptr) {
    mproc_value_t *v = nullptr;
    check(mproc_value_create(&v, typecode, initial));
    return value(v);
  }
  /// mproc_raw_value_create(): a RawValue (no lock).
  static value raw(char typecode, const void *initial = nullptr) {
    mproc_value_t *v = nullptr;
    check(mproc_raw_value_create(&v, typecode, initial));
    return value(v);
  }
  /// mproc_value_create_with_lock(): a Value guarded by the lock l.
  static value with_lock(char typecode, const void *initial, mproc::mutex &l) {
    mproc_value_t *v = nullptr;
    check(mproc_value_create_with_lock(&v, typecode, initial, l.native()));
    return value(v);
  }
  /// mproc_attached_value(): the index-th attached object, a view.
  static value attached(std::size_t i) {
    mproc_value_t *v = nullptr;
    check(mproc_attached_value(i, &v));
    return value(v, false);
  }
  /// mproc_value_typecode(): the typecode.
  char typecode() const {
    char t = 0;
    check(mproc_value_typecode(p_, &t));
    return t;
  }
  /** Typed access: T must have the typecode's size. */
  template <class T>
  T get() const {
    check_size(sizeof(T));
    T v{};
    check(mproc_value_get(p_, &v));
    return v;
  }
  /// Typed store: T must have the typecode's size.
  template <class T>
  void set(const T &v) {
    check_size(sizeof(T));
    check(mproc_value_set(p_, &v));
  }
  /** Integer typecodes: atomic operations widened to int64_t. */
  std::int64_t load() const {
    std::int64_t v = 0;
    check(mproc_value_load(p_, &v));
    return v;
  }
  /// mproc_value_store(): atomic store.
  void store(std::int64_t v) { check(mproc_value_store(p_, v)); }
  /// mproc_value_fetch_add(): atomic add, returning the old value.
  std::int64_t fetch_add(std::int64_t delta) {
    std::int64_t old = 0;
    check(mproc_value_fetch_add(p_, delta, &old));
    return old;
  }
  /// mproc_value_compare_exchange(): true when it swapped.
  bool compare_exchange(std::int64_t &expected, std::int64_t desired) {
    int swapped = 0;
    check(mproc_value_compare_exchange(p_, &expected, desired, &swapped));
    return swapped != 0;
  }
  /** The shared data itself (CPython's .value without the lock). */
  void *data() const {
    void *d = nullptr;
    check(mproc_value_get_obj(p_, &d));
    return d;
  }
  /** The value's lock, a view (MPROC_ESTATE for a raw value). */
  mproc::mutex get_lock() const {
    mproc_lock_t *l = nullptr;
    check(mproc_value_get_lock(p_, &l));
    return borrowed_lock(l);
  }

 private:
  void check_size(std::size_t n) const {
    std::size_t want = 0;
    check(mproc_typecode_size(typecode(), &want));
    if (n != want) throw error(MPROC_EINVAL, "mproc::value: size of T differs");
  }
};

/// A shared Array (mproc_array_t).
class array : public detail::owner<mproc_array_t, mproc_array_free> {
 public:
  using owner::owner;
  /// mproc_array_create(): an Array with its own lock.
  static array create(char typecode, std::size_t length,
                      const void *initial = nullptr) {
    mproc_array_t *a = nullptr;
    check(mproc_array_create(&a, typecode, length, initial));
    return array(a);
  }
  /// mproc_raw_array_create(): a RawArray (no lock).
  static array raw(char typecode, std::size_t length,
                   const void *initial = nullptr) {
    mproc_array_t *a = nullptr;
    check(mproc_raw_array_create(&a, typecode, length, initial));
    return array(a);
  }
  /// mproc_array_create_with_lock(): an Array guarded by the lock l.
  static array with_lock(char typecode, std::size_t length,
                         const void *initial, mproc::mutex &l) {
    mproc_array_t *a = nullptr;
    check(mproc_array_create_with_lock(&a, typecode, length, initial, l.native()));
    return array(a);
  }
  /// mproc_attached_array(): the index-th attached object, a view.
  static array attached(std::size_t i) {
    mproc_array_t *a = nullptr;
    check(mproc_attached_array(i, &a));
    return array(a, false);
  }
  /// mproc_array_typecode(): the typecode.
  char typecode() const {
    char t = 0;
    check(mproc_array_typecode(p_, &t));
    return t;
  }
  /// mproc_array_length(): the number of elements.
  std::size_t size() const {
    std::size_t n = 0;
    check(mproc_array_length(p_, &n));
    return n;
  }
  /// mproc_array_read(): copies count elements from start into out.
  void read(std::size_t start, std::size_t count, void *out) const {
    check(mproc_array_read(p_, start, count, out));
  }
  /// mproc_array_write(): copies count elements from in to start.
  void write(std::size_t start, std::size_t count, const void *in) {
    check(mproc_array_write(p_, start, count, in));
  }
  /** Every item as T (T must have the typecode's size). */
  template <class T>
  std::vector<T> to_vector() const {
    std::size_t want = 0;
    check(mproc_typecode_size(typecode(), &want));
    if (sizeof(T) != want) throw error(MPROC_EINVAL, "mproc::array: size of T differs");
    std::vector<T> v(size());
    if (!v.empty()) read(0, v.size(), v.data());
    return v;
  }
  /// mproc_array_get_obj(): the elements' memory.
  void *data() const {
    void *d = nullptr;
    check(mproc_array_get_obj(p_, &d));
    return d;
  }
  /// mproc_array_get_lock(): the lock, a view.
  mproc::mutex get_lock() const {
    mproc_lock_t *l = nullptr;
    check(mproc_array_get_lock(p_, &l));
    return borrowed_lock(l);
  }
};

/// SharedMemory (mproc_shared_memory_t); the destructor frees, never unlinks.
class shared_memory
    : public detail::owner<mproc_shared_memory_t, mproc_shared_memory_free> {
 public:
  using owner::owner;
  /** name nullptr: a fresh random name. flags: 0 or MPROC_SHM_PERSISTENT. */
  static shared_memory create(std::size_t size, const char *name = nullptr,
                              int flags = 0) {
    mproc_shared_memory_t *s = nullptr;
    check(mproc_shared_memory_create(&s, name, size, flags));
    return shared_memory(s);
  }
  /// mproc_shared_memory_attach(): the segment named name.
  static shared_memory attach(const char *name) {
    mproc_shared_memory_t *s = nullptr;
    check(mproc_shared_memory_attach(&s, name));
    return shared_memory(s);
  }
  /// mproc_attached_shared_memory(): the index-th attached object, a view.
  static shared_memory attached(std::size_t i) {
    mproc_shared_memory_t *s = nullptr;
    check(mproc_attached_shared_memory(i, &s));
    return shared_memory(s, false);
  }
  /// mproc_shared_memory_buf(): the mapped memory.
  void *data() const {
    void *b = nullptr;
    check(mproc_shared_memory_buf(p_, &b));
    return b;
  }
  /// mproc_shared_memory_size(): the size in bytes.
  std::size_t size() const {
    std::size_t n = 0;
    check(mproc_shared_memory_size(p_, &n));
    return n;
  }
  /// mproc_shared_memory_name(): the segment's name.
  std::string name() const {
    const char *n = nullptr;
    check(mproc_shared_memory_name(p_, &n));
    return n;
  }
  /// mproc_shared_memory_unlink(): removes the name.
  void unlink() { check(mproc_shared_memory_unlink(p_)); }
  /// mproc_shared_memory_close(): unmaps this view (name and size stay).
  void close() { check(mproc_shared_memory_close(p_)); }
};

/* ---- connections, listeners, queues ------------------------------- */

/// A Connection (mproc_connection_t), one end of a Pipe or of a Listener/Client pair.
class connection : public detail::owner<mproc_connection_t, mproc_connection_free> {
 public:
  using owner::owner;
  /// mproc_attached_connection(): the index-th attached object, a view.
  static connection attached(std::size_t i) {
    mproc_connection_t *c = nullptr;
    check(mproc_attached_connection(i, &c));
    return connection(c, false);
  }
  /// mproc_connection_send_bytes(): sends one message of len bytes.
  void send_bytes(const void *buf, std::size_t len, double timeout = forever) {
    check(mproc_connection_send_bytes(p_, buf, len, 0, MPROC_REST, timeout));
  }
  /// mproc_connection_send_bytes(): sends s as one message.
  void send_bytes(std::string_view s, double timeout = forever) {
    send_bytes(s.data(), s.size(), timeout);
  }
  /// mproc_connection_send(): sends a payload value.
  void send(const obj &v, double timeout = forever) {
    check(mproc_connection_send(p_, v.native(), timeout));
  }
  /** maxlength 0: no limit. Throws MPROC_ETIMEDOUT, MPROC_EOF, ... */
  std::string recv_bytes(double timeout = forever, std::size_t maxlength = 0) {
    void *buf = nullptr;
    std::size_t n = 0;
    check(mproc_connection_recv_bytes(p_, maxlength, &buf, &n, timeout));
    std::string s(static_cast<const char *>(buf), n);
    std::free(buf);
    return s;
  }
  /// mproc_connection_recv(): receives a payload value.
  obj recv(double timeout = forever) {
    mproc_obj_t *v = nullptr;
    check(mproc_connection_recv(p_, &v, timeout));
    return obj(v);
  }
  /** true when a message (or the end of the stream) can be received. */
  bool poll(double timeout = 0) {
    int ready = 0;
    check(mproc_connection_poll(p_, &ready, timeout));
    return ready != 0;
  }
  /// mproc_connection_sentinel(): a sentinel for mproc_wait(), ready when a message can be received.
  mproc_sentinel_t sentinel() const {
    mproc_sentinel_t s{};
    check(mproc_connection_sentinel(p_, &s));
    return s;
  }
  /** Closes this end now; the object stays until the destructor. */
  void close() { check(mproc_connection_close(p_)); }
  /// mproc_connection_closed(): whether this end is closed.
  bool closed() const { return flag(mproc_connection_closed); }
  /// mproc_connection_readable(): whether this end can receive.
  bool readable() const { return flag(mproc_connection_readable); }
  /// mproc_connection_writable(): whether this end can send.
  bool writable() const { return flag(mproc_connection_writable); }

 private:
  bool flag(mproc_status_t (*f)(const mproc_connection_t *, int *)) const {
    int v = 0;
    check(f(p_, &v));
    return v != 0;
  }
};

/** Pipe(duplex): {end1, end2}; one-way: end1 receives, end2 sends. */
inline std::pair<connection, connection> pipe(bool duplex = true) {
  mproc_connection_t *a = nullptr, *b = nullptr;
  check(mproc_pipe(&a, &b, duplex ? 1 : 0));
  return {connection(a), connection(b)};
}

/// A Listener (mproc_listener_t); the destructor frees it (closing it first).
class listener : public detail::owner<mproc_listener_t, mproc_listener_free> {
 public:
  using owner::owner;
  /** address nullptr: a fresh Unix-domain path; authkey empty: none. */
  static listener create(const char *address = nullptr,
                         std::string_view authkey = {}) {
    mproc_listener_t *l = nullptr;
    check(mproc_listener_create(&l, address,
                                authkey.empty() ? nullptr : authkey.data(),
                                authkey.size()));
    return listener(l);
  }
  /// mproc_listener_address(): the address clients connect to.
  std::string address() const {
    const char *a = nullptr;
    check(mproc_listener_address(p_, &a));
    return a;
  }
  /** An authenticated client, or an empty optional when the timeout passed. */
  std::optional<connection> accept(double timeout = forever) {
    mproc_connection_t *c = nullptr;
    if (!check_wait(mproc_listener_accept(p_, &c, timeout))) return std::nullopt;
    return connection(c);
  }
  /// mproc_listener_close(): stops listening (the address stays readable).
  void close() { check(mproc_listener_close(p_)); }
};

/// mproc_client(): connects to a Listener's address.
inline connection client(const std::string &address,
                         std::string_view authkey = {},
                         double timeout = forever) {
  mproc_connection_t *c = nullptr;
  check(mproc_client(&c, address.c_str(),
                     authkey.empty() ? nullptr : authkey.data(), authkey.size(), timeout));
  return connection(c);
}

/// A Queue, JoinableQueue or SimpleQueue (mproc_queue_t).
class queue : public detail::owner<mproc_queue_t, mproc_queue_free> {
 public:
  using owner::owner;
  /** Queue(maxsize) (0: no item limit); capacity: ring bytes (0: default). */
  static queue create(std::size_t maxsize = 0, std::size_t capacity = 0) {
    mproc_queue_t *q = nullptr;
    check(mproc_queue_create(&q, maxsize, capacity));
    return queue(q);
  }
  /// mproc_joinable_queue_create(): a JoinableQueue.
  static queue joinable(std::size_t maxsize = 0, std::size_t capacity = 0) {
    mproc_queue_t *q = nullptr;
    check(mproc_joinable_queue_create(&q, maxsize, capacity));
    return queue(q);
  }
  /// mproc_simple_queue_create(): a SimpleQueue.
  static queue simple() {
    mproc_queue_t *q = nullptr;
    check(mproc_simple_queue_create(&q));
    return queue(q);
  }
  /// mproc_attached_queue(): the index-th attached object, a view.
  static queue attached(std::size_t i) {
    mproc_queue_t *q = nullptr;
    check(mproc_attached_queue(i, &q));
    return queue(q, false);
  }
  /** Throws MPROC_EFULL when there is no room in time. */
  void put(const obj &v, double timeout = forever) {
    check(mproc_queue_put(p_, v.native(), timeout));
  }
  /** false when there was no room in time (queue.Full). */
  bool try_put(const obj &v, double timeout = 0) {
    return check_wait(mproc_queue_put(p_, v.native(), timeout), MPROC_EFULL);
  }
  /// mproc_queue_put_bytes(): puts raw bytes; throws MPROC_EFULL when there is no room in time.
  void put_bytes(std::string_view b, double timeout = forever) {
    check(mproc_queue_put_bytes(p_, b.data(), b.size(), timeout));
  }
  /** Throws MPROC_EEMPTY when nothing came in time. */
  obj get(double timeout = forever) {
    mproc_obj_t *v = nullptr;
    check(mproc_queue_get(p_, &v, timeout));
    return obj(v);
  }
  /** An empty optional when nothing came in time (queue.Empty). */
  std::optional<obj> try_get(double timeout = 0) {
    mproc_obj_t *v = nullptr;
    if (!check_wait(mproc_queue_get(p_, &v, timeout), MPROC_EEMPTY))
      return std::nullopt;
    return obj(v);
  }
  /// mproc_queue_get_bytes(): gets raw bytes; throws MPROC_EEMPTY when nothing came in time.
  std::string get_bytes(double timeout = forever) {
    void *buf = nullptr;
    std::size_t n = 0;
    check(mproc_queue_get_bytes(p_, &buf, &n, timeout));
    std::string s(static_cast<const char *>(buf), n);
    std::free(buf);
    return s;
  }
  /// mproc_queue_qsize(): the approximate number of items.
  std::size_t qsize() {
    std::size_t n = 0;
    check(mproc_queue_qsize(p_, &n));
    return n;
  }
  /// mproc_queue_empty(): whether the queue is empty.
  bool empty() {
    int e = 0;
    check(mproc_queue_empty(p_, &e));
    return e != 0;
  }
  /// mproc_queue_full(): whether the queue is full.
  bool full() {
    int f = 0;
    check(mproc_queue_full(p_, &f));
    return f != 0;
  }
  /// mproc_queue_task_done(): marks one item done (JoinableQueue).
  void task_done() { check(mproc_queue_task_done(p_)); }
  /** JoinableQueue.join: false when the timeout passed first. */
  bool join(double timeout = forever) {
    return check_wait(mproc_queue_join(p_, timeout));
  }
  /// mproc_queue_close(): this process will put and get no more.
  void close() { check(mproc_queue_close(p_)); }
  /// mproc_queue_join_thread(): returns at once, after close.
  void join_thread() { check(mproc_queue_join_thread(p_)); }
  /// mproc_queue_cancel_join_thread(): returns at once.
  void cancel_join_thread() { check(mproc_queue_cancel_join_thread(p_)); }
};

/* ---- processes ---------------------------------------------------- */

/** A child process. The destructor of a started process waits for the
 * child to end (like std::jthread) and then releases the object. */
class process {
 public:
  process() noexcept = default;
  /** target must be registered by name for spawn (MPROC_TASK,
   * MPROC_CXX_TASK, task_registration); arg bytes are copied. */
  explicit process(mproc_task_fn target, const void *arg = nullptr,
                   std::size_t arg_len = 0, mproc_context_t *ctx = nullptr) {
    check(mproc_process_create(&p_, ctx, target, arg, arg_len));
  }
  template <class T, class = std::enable_if_t<std::is_trivially_copyable_v<T> &&
                                              !std::is_pointer_v<T>>>
  /// A process whose argument is the bytes of arg (trivially copyable).
  process(mproc_task_fn target, const T &arg, mproc_context_t *ctx = nullptr)
      : process(target, &arg, sizeof arg, ctx) {}
  /// A process whose argument is the bytes of arg.
  process(mproc_task_fn target, std::string_view arg, mproc_context_t *ctx)
      : process(target, arg.data(), arg.size(), ctx) {}
  process(const process &) = delete;
  process &operator=(const process &) = delete;
  /// Takes over o's process; o is left empty.
  process(process &&o) noexcept
      : p_(std::exchange(o.p_, nullptr)), owned_(o.owned_) {}
  /// Releases this process object, then takes over o's.
  process &operator=(process &&o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      owned_ = o.owned_;
    }
    return *this;
  }
  ~process() { reset(); }

  /** Views of objects mproc owns (never closed by the destructor): the
   * calling process ("MainProcess" in the main program), its parent (an
   * empty process in the main program), and the children still running
   * (objects this process created: the views must not outlive them). */
  static process current() {
    mproc_process_t *p = nullptr;
    check(mproc_current_process(&p));
    return process(p, false);
  }
  /// mproc_parent_process(): the parent, or an empty object in the main program.
  static process parent() {
    mproc_process_t *p = nullptr;
    check(mproc_parent_process(&p));
    return process(p, false);
  }
  /// mproc_active_children(): the children still alive.
  static std::vector<process> active_children() {
    std::size_t n = 0;
    check(mproc_active_children(nullptr, 0, &n));
    std::vector<mproc_process_t *> raw(n + 16);
    check(mproc_active_children(raw.data(), raw.size(), &n));
    std::vector<process> out;
    for (std::size_t i = 0; i < n && i < raw.size(); i++)
      out.push_back(process(raw[i], false));
    return out;
  }

  /** Waits for a started child, then releases the object (owned ones). */
  void reset() noexcept {
    if (p_ == nullptr) return;
    if (!owned_) {
      p_ = nullptr;
      return;
    }
    if (mproc_process_free(p_) == MPROC_ERUNNING) {
      (void)mproc_process_join(p_, MPROC_FOREVER);
      (void)mproc_process_free(p_);
    }
    p_ = nullptr;
  }
  /// The C object, for calls this layer does not wrap.
  mproc_process_t *native() const noexcept { return p_; }
  /// Whether it holds a process object.
  explicit operator bool() const noexcept { return p_ != nullptr; }

  /// mproc_process_set_name(): sets the name.
  process &set_name(const char *name) {
    check(mproc_process_set_name(p_, name));
    return *this;
  }
  /// mproc_process_name(): the name.
  std::string name() const {
    const char *n = nullptr;
    check(mproc_process_name(p_, &n));
    return n;
  }
  /// mproc_process_set_daemon(): sets the daemon flag, before start.
  process &set_daemon(bool daemon) {
    check(mproc_process_set_daemon(p_, daemon ? 1 : 0));
    return *this;
  }
  /// mproc_process_daemon(): the daemon flag.
  bool daemon() const {
    int d = 0;
    check(mproc_process_daemon(p_, &d));
    return d != 0;
  }
  /** Attaches any mproc owner (queue, lock, connection, ...) before start;
   * the child finds it with `<type>::attached(index)`. */
  template <class Owner>
  process &attach(const Owner &object) {
    check(mproc_process_attach(p_, static_cast<void *>(object.native())));
    return *this;
  }
  /// mproc_process_start(): starts the child.
  process &start() {
    check(mproc_process_start(p_));
    return *this;
  }
  /** true when the child ended, false when the timeout passed first. */
  bool join(double timeout = forever) {
    return check_wait(mproc_process_join(p_, timeout));
  }
  /// mproc_process_is_alive(): whether the child runs.
  bool is_alive() {
    int a = 0;
    check(mproc_process_is_alive(p_, &a));
    return a != 0;
  }
  /// mproc_process_pid(): the process id.
  long pid() const {
    long pid = 0;
    check(mproc_process_pid(p_, &pid));
    return pid;
  }
  /** The exit code, or an empty optional while the child runs. */
  std::optional<int> exitcode() {
    int code = 0;
    if (!check_wait(mproc_process_exitcode(p_, &code), MPROC_ERUNNING))
      return std::nullopt;
    return code;
  }
  /// mproc_process_terminate(): SIGTERM.
  void terminate() { check(mproc_process_terminate(p_)); }
  /// mproc_process_kill(): SIGKILL.
  void kill() { check(mproc_process_kill(p_)); }
  /// mproc_process_close(): releases the child's OS resources; the child
  /// must have ended. The object is unusable afterwards (but still freed).
  void close() { check(mproc_process_close(p_)); }
  /// mproc_process_sentinel(): ready when the child ends, for wait().
  mproc_sentinel_t sentinel() const {
    mproc_sentinel_t s{};
    check(mproc_process_sentinel(p_, &s));
    return s;
  }

 private:
  process(mproc_process_t *p, bool owned) noexcept : p_(p), owned_(owned) {}
  mproc_process_t *p_ = nullptr;
  bool owned_ = true;
};

/** Waits until one of the sentinels is ready: their readiness flags, or an
 * empty optional when the timeout passed. */
inline std::optional<std::vector<bool>> wait(
    const std::vector<mproc_sentinel_t> &sentinels, double timeout = forever) {
  std::vector<int> ready(sentinels.size());
  if (!check_wait(mproc_wait(sentinels.data(), sentinels.size(), ready.data(),
                             nullptr, timeout)))
    return std::nullopt;
  return std::vector<bool>(ready.begin(), ready.end());
}

}  // namespace mproc

/** Defines a task registered by name (spawn finds it) with a C++ body:
 *   MPROC_CXX_TASK(worker) { auto n = arg.as<int>(); ...; return 0; }
 * `arg` is an mproc::task_arg; an exception escaping the body is printed
 * and the child's exit code is 1. `worker` is the mproc_task_fn to start. */
#define MPROC_CXX_TASK(fn)                                              \
  static int fn##_mproc_cxx_body_(::mproc::task_arg);                   \
  MPROC_TASK(fn) {                                                      \
    return ::mproc::detail::run_task(fn##_mproc_cxx_body_, arg, arg_len); \
  }                                                                     \
  static int fn##_mproc_cxx_body_([[maybe_unused]] ::mproc::task_arg arg)

#endif /* MPROC_HPP */
