// SPDX-License-Identifier: Apache-2.0
// What only the forkserver start method has: its server (started lazily,
// authenticated, ended with its parent), and the handles it passes. The
// rest of its behaviour is every suite crossed with the start methods.
// Each test that looks at "the" server runs in a spawned child of its own:
// a fresh process, whose first forkserver use is the test's.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mproc.h"
extern "C" {
#include "platform/platform.h"
}
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

using namespace mproc_test;

namespace {

bool HasForkserver() {
  for (const char *const *m = mproc_all_start_methods(); *m; m++)
    if (std::strcmp(*m, "forkserver") == 0) return true;
  return false;
}

std::string ProcFile(long pid, const char *what) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + what);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool IsForkserverProcess(long pid) {
  std::string cmd = ProcFile(pid, "cmdline");
  return cmd.find("--mproc-forkserver") != std::string::npos;
}

long ParentOf(long pid) {
  std::string stat = ProcFile(pid, "stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  char state;
  long ppid = -1;
  if (std::sscanf(stat.c_str() + close + 1, " %c %ld", &state, &ppid) != 2)
    return -1;
  return ppid;
}

// Children of this process that are a forkserver.
int ForkserverChildren() {
  int n = 0;
  DIR *d = opendir("/proc");
  if (d == nullptr) return -1;
  for (dirent *e; (e = readdir(d)) != nullptr;) {
    char *end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    if (ParentOf(pid) == getpid() && IsForkserverProcess(pid)) n++;
  }
  closedir(d);
  return n;
}

mproc_context_t *ContextOrNull(const char *method) {
  mproc_context_t *ctx = nullptr;
  return mproc_get_context(method, &ctx) == MPROC_OK ? ctx : nullptr;
}

// Runs target under ctx to its end: its exit code, or 1000 + the failing
// step.
int RunIn(mproc_context_t *ctx, mproc_task_fn target, const void *arg = nullptr,
          size_t len = 0) {
  mproc_process_t *p;
  if (mproc_process_create(&p, ctx, target, arg, len) != MPROC_OK) return 1001;
  if (mproc_process_start(p) != MPROC_OK) {
    mproc_process_free(p);
    return 1002;
  }
  int code = 1003;
  if (mproc_process_join(p, 30) == MPROC_OK) mproc_process_exitcode(p, &code);
  mproc_process_free(p);
  return code;
}

// A TMPDIR short enough for a Unix socket path below it (the test's own
// temporary directory may be too deep for sun_path).
std::string ShortTempDir() {
  char path[] = "/tmp/fs-test-XXXXXX";
  EXPECT_NE(nullptr, mkdtemp(path));
  return path;
}

// Orphans below us come to us (to be reaped and checked), not to init.
class Subreaper {
 public:
  Subreaper() { EXPECT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1)); }
  ~Subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 0); }
};

}  // namespace

MPROC_TASK(fs_trivial) {
  (void)arg;
  (void)arg_len;
  return 0;
}

MPROC_TASK(fs_return_arg) {
  int v = 0;
  if (arg_len == sizeof v) std::memcpy(&v, arg, sizeof v);
  return v;
}

MPROC_TASK(fs_sleep) {
  (void)arg;
  (void)arg_len;
  mproc_sleep(60);
  return 0;
}

MPROC_TASK(fs_sleep_ignoring_terminate) {
  (void)arg;
  (void)arg_len;
  signal(SIGTERM, SIG_IGN);
  mproc_sleep(60);
  return 0;
}

// ---- lazily started ----------------------------------------------------

MPROC_TASK(fs_lazy_probe) {
  (void)arg;
  (void)arg_len;
  if (RunIn(ContextOrNull("spawn"), fs_trivial) != 0) return 2;
  mproc_context_t *fork_ctx = ContextOrNull("fork");  // where there is fork
  if (fork_ctx != nullptr && RunIn(fork_ctx, fs_trivial) != 0) return 3;
  if (mp_forkserver_pid() != 0) return 10;
  if (ForkserverChildren() != 0) return 11;
  if (RunIn(ContextOrNull("forkserver"), fs_trivial) != 0) return 12;
  long pid = mp_forkserver_pid();
  if (pid <= 0) return 13;
  if (!IsForkserverProcess(pid)) return 14;
  if (ParentOf(pid) != getpid()) return 15;
  if (ForkserverChildren() != 1) return 16;
  // One server for every later child.
  if (RunIn(ContextOrNull("forkserver"), fs_trivial) != 0) return 17;
  if (mp_forkserver_pid() != pid || ForkserverChildren() != 1) return 18;
  return 0;
}

class ForkserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HasForkserver()) GTEST_SKIP() << "no forkserver on this platform";
  }
};

TEST_F(ForkserverTest, TheServerStartsOnlyWhenForkserverIsUsed) {
  EXPECT_EQ(0, RunIn(Context("spawn"), fs_lazy_probe))
      << "10/11: a server ran before forkserver was used; 12-18: see "
         "fs_lazy_probe";
}

// ---- a killed parent ---------------------------------------------------

struct KilledParentArg {
  PathArg tmpdir;
  PathArg report;
};

MPROC_TASK(fs_start_daemons_then_block) {
  KilledParentArg a;
  std::memcpy(&a, arg, sizeof a);
  (void)arg_len;
  setenv("TMPDIR", a.tmpdir.path, 1);
  mproc_context_t *ctx = ContextOrNull("forkserver");
  mproc_process_t *plain, *stubborn;
  if (mproc_process_create(&plain, ctx, fs_sleep, nullptr, 0) != MPROC_OK ||
      mproc_process_create(&stubborn, ctx, fs_sleep_ignoring_terminate,
                           nullptr, 0) != MPROC_OK ||
      mproc_process_set_daemon(plain, 1) != MPROC_OK ||
      mproc_process_set_daemon(stubborn, 1) != MPROC_OK ||
      mproc_process_start(plain) != MPROC_OK ||
      mproc_process_start(stubborn) != MPROC_OK)
    return 2;
  long p1 = 0, p2 = 0;
  mproc_process_pid(plain, &p1);
  mproc_process_pid(stubborn, &p2);
  mproc_sleep(0.3);  // the second one ignores SIGTERM by now
  std::string text = std::to_string(mp_forkserver_pid()) + " " +
                     std::to_string(p1) + " " + std::to_string(p2);
  if (!WriteFileAtomically(a.report.path, text)) return 3;
  mproc_sleep(60);
  return 0;
}

TEST_F(ForkserverTest, AKilledParentTakesTheServerAndItsDaemonsDown) {
  Subreaper subreaper;
  std::string tmpdir = ShortTempDir();
  KilledParentArg arg{};
  std::string report = TempPath("pids");
  arg.tmpdir = MakePathArg(tmpdir);
  arg.report = MakePathArg(report);
  Child parent(Context("spawn"), fs_start_daemons_then_block, &arg, sizeof arg);
  ASSERT_EQ(MPROC_OK, mproc_process_start(parent.get())) << mproc_last_error();
  ASSERT_TRUE(WaitForFile(report, 20)) << "the daemons never started";
  long server = 0, plain = 0, stubborn = 0;
  std::istringstream(ReadFile(report)) >> server >> plain >> stubborn;
  ASSERT_GT(server, 0);
  ASSERT_GT(plain, 0);
  ASSERT_GT(stubborn, 0);
  EXPECT_EQ(server, ParentOf(plain)) << "the daemon is the server's child";

  ASSERT_EQ(MPROC_OK, mproc_process_kill(parent.get()));
  EXPECT_EQ(-SIGKILL, parent.JoinCode(10));
  int status = ReapWithin(static_cast<pid_t>(server), 10);
  ASSERT_NE(-1, status) << "the server outlived its killed parent";
  EXPECT_TRUE(WIFEXITED(status)) << status;
  status = ReapWithin(static_cast<pid_t>(plain), 10);
  ASSERT_NE(-1, status) << "a daemon outlived the server";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  status = ReapWithin(static_cast<pid_t>(stubborn), 10);
  ASSERT_NE(-1, status) << "a daemon that ignores SIGTERM outlived the server";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  // The server removed its private directory on the way out.
  DIR *d = opendir(tmpdir.c_str());
  ASSERT_NE(nullptr, d);
  int entries = 0;
  for (dirent *e; (e = readdir(d)) != nullptr;)
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      entries++;
  closedir(d);
  EXPECT_EQ(0, entries) << "the server's socket directory was left behind";
  rmdir(tmpdir.c_str());
}

// ---- authentication ------------------------------------------------------

MPROC_TASK(fs_intruder) {
  PathArg tmpdir;
  std::memcpy(&tmpdir, arg, sizeof tmpdir);
  (void)arg_len;
  setenv("TMPDIR", tmpdir.path, 1);
  mproc_context_t *ctx = ContextOrNull("forkserver");
  if (RunIn(ctx, fs_trivial) != 0) return 2;
  std::string dir;
  DIR *d = opendir(tmpdir.path);
  if (d == nullptr) return 3;
  for (dirent *e; (e = readdir(d)) != nullptr;)
    if (std::strncmp(e->d_name, "mproc-forkserver-", 17) == 0)
      dir = std::string(tmpdir.path) + "/" + e->d_name;
  closedir(d);
  if (dir.empty()) return 4;
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || (st.st_mode & 0777) != 0700) return 20;
  std::string path = dir + "/s";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0)
    return 5;
  // A request-sized message without the secret: all zeros.
  char junk[256] = {0};
  if (send(fd, junk, sizeof junk, MSG_NOSIGNAL) != (ssize_t)sizeof junk)
    return 6;
  pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 10000) != 1) return 21;  // neither answered nor dropped
  char answer[16];
  ssize_t n = read(fd, answer, sizeof answer);
  close(fd);
  if (n != 0 && !(n < 0 && errno == ECONNRESET)) return 22;  // it answered
  // The server serves its own parent as before.
  if (RunIn(ctx, fs_trivial) != 0) return 23;
  return 0;
}

TEST_F(ForkserverTest, AClientWithoutTheSecretIsRefused) {
  std::string tmpdir = ShortTempDir();
  PathArg arg = MakePathArg(tmpdir);
  EXPECT_EQ(0, RunIn(Context("spawn"), fs_intruder, &arg, sizeof arg))
      << "20: the socket directory is not private; 21/22: the server did "
         "not drop a request without the secret; 23: it stopped serving";
  EXPECT_EQ(0, rmdir(tmpdir.c_str())) << "the server's directory was left";
}

// ---- handles -------------------------------------------------------------

constexpr int kPipes = 12;

// Echoes one message on each attached connection, prefixed by its index.
MPROC_TASK(fs_echo_each) {
  (void)arg;
  (void)arg_len;
  for (int i = 0; i < kPipes; i++) {
    mproc_connection_t *c;
    if (mproc_attached_connection(static_cast<size_t>(i), &c) != MPROC_OK)
      return 10 + i;
    void *msg;
    size_t len;
    if (mproc_connection_recv_bytes(c, 0, &msg, &len, 10) != MPROC_OK)
      return 30 + i;
    std::string reply = std::to_string(i) + ":" +
                        std::string(static_cast<char *>(msg), len);
    free(msg);
    if (mproc_connection_send_bytes(c, reply.data(), reply.size(), 0,
                                    MPROC_REST, 10) != MPROC_OK)
      return 50 + i;
  }
  return 0;
}

TEST_F(ForkserverTest, EveryPassedHandleLandsWhereTheChildLooks) {
  mproc_connection_t *ours[kPipes], *theirs[kPipes];
  for (int i = 0; i < kPipes; i++)
    ASSERT_EQ(MPROC_OK, mproc_pipe(&ours[i], &theirs[i], 1));
  Child c(Context("forkserver"), fs_echo_each);
  // In reverse, so that the child's values are not in the parent's order.
  for (int i = kPipes - 1; i >= 0; i--)
    ASSERT_EQ(MPROC_OK, mproc_process_attach(c.get(), theirs[kPipes - 1 - i]));
  ASSERT_EQ(MPROC_OK, mproc_process_start(c.get())) << mproc_last_error();
  for (int i = 0; i < kPipes; i++) {
    // Attached index i is theirs[i].
    std::string text = "message " + std::to_string(i);
    ASSERT_EQ(MPROC_OK, mproc_connection_send_bytes(ours[i], text.data(),
                                                    text.size(), 0,
                                                    MPROC_REST, 10));
    void *reply;
    size_t len;
    ASSERT_EQ(MPROC_OK,
              mproc_connection_recv_bytes(ours[i], 0, &reply, &len, 10))
        << mproc_last_error();
    EXPECT_EQ(std::to_string(i) + ":" + text,
              std::string(static_cast<char *>(reply), len));
    free(reply);
  }
  EXPECT_EQ(0, c.JoinCode());
  for (int i = 0; i < kPipes; i++) {
    mproc_connection_free(ours[i]);
    mproc_connection_free(theirs[i]);
  }
}

// ---- many at once --------------------------------------------------------

TEST_F(ForkserverTest, ManyChildrenFromSeveralThreadsAtOnce) {
  constexpr int kThreads = 4, kEach = 8;
  mproc_context_t *ctx = Context("forkserver");
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++)
    threads.emplace_back([ctx, t, &wrong] {
      std::vector<mproc_process_t *> ps;
      for (int i = 0; i < kEach; i++) {
        int code = 1 + t * kEach + i;
        mproc_process_t *p;
        if (mproc_process_create(&p, ctx, fs_return_arg, &code, sizeof code) !=
                MPROC_OK ||
            mproc_process_start(p) != MPROC_OK) {
          wrong[t]++;
          continue;
        }
        ps.push_back(p);
      }
      for (int i = 0; i < static_cast<int>(ps.size()); i++) {
        int code = -1;
        if (mproc_process_join(ps[i], 30) != MPROC_OK ||
            mproc_process_exitcode(ps[i], &code) != MPROC_OK ||
            code != 1 + t * kEach + i)
          wrong[t]++;
        mproc_process_kill(ps[i]);
        mproc_process_join(ps[i], 10);
        mproc_process_free(ps[i]);
      }
    });
  for (std::thread &t : threads) t.join();
  for (int t = 0; t < kThreads; t++) EXPECT_EQ(0, wrong[t]) << "thread " << t;
}

// ---- a server that dies --------------------------------------------------

MPROC_TASK(fs_server_crash) {
  PathArg report;
  std::memcpy(&report, arg, sizeof report);
  (void)arg_len;
  mproc_context_t *ctx = ContextOrNull("forkserver");
  mproc_process_t *p;
  if (mproc_process_create(&p, ctx, fs_sleep, nullptr, 0) != MPROC_OK ||
      mproc_process_set_daemon(p, 1) != MPROC_OK ||
      mproc_process_start(p) != MPROC_OK)
    return 2;
  long child = 0;
  mproc_process_pid(p, &child);
  long server = mp_forkserver_pid();
  if (server <= 0) return 3;
  if (!WriteFileAtomically(report.path, std::to_string(child))) return 4;
  kill(static_cast<pid_t>(server), SIGKILL);
  double start = Now();
  mproc_status_t st = mproc_process_join(p, 20);
  if (st == MPROC_ETIMEDOUT) return 30;  // a hang, cut short
  if (st != MPROC_ESPAWN) return 31;
  if (std::strstr(mproc_last_error(), "server") == nullptr) return 32;
  if (Now() - start > 10) return 33;
  int alive = 1;
  if (mproc_process_is_alive(p, &alive) != MPROC_ESPAWN) return 34;
  // A new server for the next child.
  int code = RunIn(ctx, fs_trivial);
  if (code != 0) {
    std::fprintf(stderr, "fs_server_crash: %d: %s\n", code, mproc_last_error());
    return 35;
  }
  if (mp_forkserver_pid() == server || mp_forkserver_pid() <= 0) return 36;
  return 0;
}

TEST_F(ForkserverTest, AServerThatDiesIsAClearErrorNotAHang) {
  Subreaper subreaper;
  std::string report = TempPath("child");
  PathArg arg = MakePathArg(report);
  EXPECT_EQ(0, RunIn(Context("spawn"), fs_server_crash, &arg, sizeof arg))
      << "30: join hung; 31/32: not MPROC_ESPAWN naming the server; 34: "
         "is_alive; 35/36: no new server";
  ASSERT_TRUE(FileExists(report));
  // The daemon died with its server (parent-death signal).
  pid_t child = static_cast<pid_t>(std::stol(ReadFile(report)));
  int status = ReapWithin(child, 10);
  if (status == -1) kill(child, SIGKILL);
  EXPECT_NE(-1, status) << "the daemon outlived its server";
}

MPROC_TASK(fs_sleep_then_7) {
  (void)arg;
  (void)arg_len;
  mproc_sleep(0.5);
  return 7;
}

// Removes every forkserver directory under dir (a temporary-file cleaner).
static void RemoveServerDirs(const std::string &dir) {
  DIR *d = opendir(dir.c_str());
  if (d == nullptr) return;
  for (dirent *e; (e = readdir(d)) != nullptr;) {
    std::string name = e->d_name;
    if (name.rfind("mproc-forkserver-", 0) != 0) continue;
    unlink((dir + "/" + name + "/s").c_str());
    rmdir((dir + "/" + name).c_str());
  }
  closedir(d);
}

// In a fresh program whose TMPDIR is arg: the server's socket file is
// removed while it has a worker and a daemon; the next start gets a new
// server, and the old one still tells how its children end.
MPROC_TASK(fs_socket_removed) {
  std::string dir(static_cast<const char *>(arg), arg_len);
  setenv("TMPDIR", dir.c_str(), 1);
  mproc_context_t *ctx = ContextOrNull("forkserver");
  mproc_process_t *worker = nullptr, *daemon = nullptr, *next = nullptr;
  if (mproc_process_create(&worker, ctx, fs_sleep_then_7, nullptr, 0) ||
      mproc_process_create(&daemon, ctx, fs_sleep, nullptr, 0) ||
      mproc_process_set_daemon(daemon, 1) || mproc_process_start(worker) ||
      mproc_process_start(daemon)) {
    std::fprintf(stderr, "fs_socket_removed: %s\n", mproc_last_error());
    return 2;
  }
  long first = mp_forkserver_pid();
  if (first <= 0) return 3;
  RemoveServerDirs(dir);
  if (mproc_process_create(&next, ctx, fs_trivial, nullptr, 0) ||
      mproc_process_start(next) != MPROC_OK) {
    std::fprintf(stderr, "fs_socket_removed: %s\n", mproc_last_error());
    return 4;
  }
  int code = -1;
  if (mproc_process_join(next, 20) || mproc_process_exitcode(next, &code) ||
      code != 0)
    return 5;
  if (mp_forkserver_pid() == first || mp_forkserver_pid() <= 0) return 6;
  if (kill(static_cast<pid_t>(first), 0) != 0) return 7;  // killed
  if (mproc_process_join(worker, 20) != MPROC_OK) {
    std::fprintf(stderr, "fs_socket_removed: %s\n", mproc_last_error());
    return 8;
  }
  if (mproc_process_exitcode(worker, &code) || code != 7) return 9;
  int alive = 0;
  if (mproc_process_is_alive(daemon, &alive) || !alive) return 10;
  if (mproc_process_terminate(daemon) || mproc_process_join(daemon, 20) ||
      mproc_process_exitcode(daemon, &code) || code != -SIGTERM)
    return 11;
  mproc_process_free(worker);
  mproc_process_free(daemon);
  mproc_process_free(next);
  return 0;
}

TEST_F(ForkserverTest, ARemovedSocketFileLeavesTheServerToItsChildren) {
  // Short: a socket path must fit sockaddr_un (the test's own temporary
  // directory may be far longer).
  char made[] = "/tmp/mproc-test-XXXXXX";
  ASSERT_NE(nullptr, mkdtemp(made));
  std::string dir = made;
  EXPECT_EQ(0, RunIn(Context("spawn"), fs_socket_removed, dir.data(),
                     dir.size()))
      << "2/3: start; 4/5: no new server; 6: the same server; 7: the old "
         "one was killed; 8/9: the worker's end was lost; 10/11: the daemon";
  RemoveServerDirs(dir);
  rmdir(dir.c_str());
}

// ---- nothing left behind ------------------------------------------------

int OpenDescriptors(long pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR *d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  for (dirent *e; (e = readdir(d)) != nullptr;) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

// Each child's connection, and each passed handle, is closed on both sides
// once the child is closed: neither our table nor the server's grows.
TEST_F(ForkserverTest, ChildrenLeaveNoDescriptorsInTheParentOrTheServer) {
  mproc_context_t *ctx = Context("forkserver");
  Child first(ctx, fs_trivial);  // the server runs from here on
  ASSERT_EQ(0, first.RunToEnd());
  long server = mp_forkserver_pid();
  ASSERT_GT(server, 0);
  // The server closes a connection just after it sent the exit code we
  // read: give it that moment before counting (and again at the end).
  mproc_sleep(0.2);
  int ours = OpenDescriptors(getpid()), theirs = OpenDescriptors(server);
  ASSERT_GT(ours, 0);
  ASSERT_GT(theirs, 0);
  for (int i = 0; i < 20; i++) {
    mproc_connection_t *a, *b;
    ASSERT_EQ(MPROC_OK, mproc_pipe(&a, &b, 1));
    Child c(ctx, fs_trivial);
    ASSERT_EQ(MPROC_OK, mproc_process_attach(c.get(), b));
    EXPECT_EQ(0, c.RunToEnd());
    mproc_connection_free(a);
    mproc_connection_free(b);
  }
  EXPECT_EQ(ours, OpenDescriptors(getpid()));
  for (int i = 0; i < 200 && OpenDescriptors(server) != theirs; i++)
    mproc_sleep(0.01);
  EXPECT_EQ(theirs, OpenDescriptors(server));
  EXPECT_EQ(server, mp_forkserver_pid()) << "one server for them all";
}
