// berth_fault_shim: an LD_PRELOAD library that makes fsync and write calls
// on chosen files fail with EIO or ENOSPC, so that tests can put a real
// SQLite file (berthd's, or one a unit test opens) on a failing "disk"
// without mocking the store.
//
//   echo "fsync EIO" > "$dir/faults"              # arm
//   BERTH_FAULTS="$dir/faults" LD_PRELOAD=libberth_fault_shim.so berthd ...
//   : > "$dir/faults"                              # disarm, berthd still running
//
// Environment, read on every intercepted call:
//   BERTH_FAULTS       the control file. Unset: the shim is inert. A missing
//                      or empty file: no faults. Each line is `<op> <errno>`:
//                        fsync EIO | fsync ENOSPC   fsync and fdatasync fail
//                        write EIO | write ENOSPC   write, pwrite, pwrite64,
//                                                   writev, fallocate and
//                                                   posix_fallocate fail
//                      Other lines are ignored; the first line for an op wins.
//                      The file is re-read on every call that targets a
//                      matching file, so a test arms and disarms faults on a
//                      running process by rewriting it.
//   BERTH_FAULTS_PATH  only descriptors whose path (readlink of
//                      /proc/self/fd/N) contains this substring are faulted;
//                      default ".db", which matches berth.db, berth.db-wal,
//                      berth.db-shm and berth.db-journal. Descriptors 0-2,
//                      sockets, pipes and other files are never touched.
//   BERTH_FAULTS_LOG   optional: each injected fault appends a line
//                      `<op> <errno> <path>` here, so a test can show that
//                      its fault really fired.
//
// A faulted call does nothing and returns -1 with errno set (posix_fallocate
// returns the error number), as the kernel does for a failed writeback or a
// full disk. ftruncate is left alone: shrinking a file needs no space.
//
// Every other call goes to the next definition (dlsym(RTLD_NEXT)), which is
// libc's, or, in a sanitizer build, reached from the sanitizer's own
// interceptor in the executable. The interposers allocate nothing: paths and
// the control file are read into stack buffers with open/read/readlink. The
// library is built without sanitizer instrumentation so that it loads into
// instrumented and plain processes alike. (With gcc's shared libasan, ASan
// refuses a preloaded library ahead of it: add verify_asan_link_order=0 to
// ASAN_OPTIONS. clang links its runtime into the executable; no trouble.)
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>

namespace {

enum class Op { kFsync, kWrite };

const char* OpName(Op op) { return op == Op::kFsync ? "fsync" : "write"; }

// The next definition of `name` after this library, resolved once.
void* Next(std::atomic<void*>& slot, const char* name) {
  void* f = slot.load(std::memory_order_acquire);
  if (f == nullptr) {
    f = dlsym(RTLD_NEXT, name);
    slot.store(f, std::memory_order_release);
  }
  return f;
}

template <typename Fn>
Fn NextAs(std::atomic<void*>& slot, const char* name) {
  return reinterpret_cast<Fn>(Next(slot, name));
}

std::atomic<void*> real_write{nullptr};

ssize_t RealWrite(int fd, const void* buf, size_t count) {
  auto fn = NextAs<ssize_t (*)(int, const void*, size_t)>(real_write, "write");
  if (fn == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return fn(fd, buf, count);
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// The errno armed for `op` in the control file `text` (NUL-terminated), or 0.
int ParseControl(const char* text, Op op) {
  const char* want = OpName(op);
  const size_t want_len = strlen(want);
  for (const char* line = text; *line != '\0';) {
    const char* end = strchr(line, '\n');
    if (end == nullptr) end = line + strlen(line);
    const char* p = line;
    while (p < end && IsSpace(*p)) ++p;
    if (static_cast<size_t>(end - p) > want_len && strncmp(p, want, want_len) == 0 &&
        IsSpace(p[want_len])) {
      p += want_len;
      while (p < end && IsSpace(*p)) ++p;
      const char* q = end;
      while (q > p && IsSpace(q[-1])) --q;
      const size_t n = static_cast<size_t>(q - p);
      if (n == 3 && strncmp(p, "EIO", 3) == 0) return EIO;
      if (n == 6 && strncmp(p, "ENOSPC", 6) == 0) return ENOSPC;
    }
    line = *end == '\0' ? end : end + 1;
  }
  return 0;
}

void LogFault(Op op, int error, const char* path) {
  const char* log = getenv("BERTH_FAULTS_LOG");
  if (log == nullptr || *log == '\0') return;
  const int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[4096 + 32];
  size_t n = 0;
  auto append = [&](const char* s) {
    const size_t len = strnlen(s, sizeof(line) - 1 - n);
    memcpy(line + n, s, len);
    n += len;
  };
  append(OpName(op));
  append(error == EIO ? " EIO " : " ENOSPC ");
  append(path);
  append("\n");
  RealWrite(fd, line, n);  // one append: lines from threads do not interleave
  close(fd);
}

// The errno to fail `op` on `fd` with, or 0 to call the real function.
// Leaves errno as it found it.
int FaultFor(int fd, Op op) {
  const char* control = getenv("BERTH_FAULTS");
  if (control == nullptr || *control == '\0' || fd <= STDERR_FILENO) return 0;
  const int saved_errno = errno;
  int error = 0;
  char link[64];
  char path[4096];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t path_len = readlink(link, path, sizeof(path) - 1);
  if (path_len > 0) {
    path[path_len] = '\0';
    const char* pattern = getenv("BERTH_FAULTS_PATH");
    if (pattern == nullptr || *pattern == '\0') pattern = ".db";
    if (strstr(path, pattern) != nullptr) {
      char text[4096];
      const int cfd = open(control, O_RDONLY | O_CLOEXEC);
      if (cfd >= 0) {
        const ssize_t n = read(cfd, text, sizeof(text) - 1);
        close(cfd);
        if (n > 0) {
          text[n] = '\0';
          error = ParseControl(text, op);
        }
      }
      if (error != 0) LogFault(op, error, path);
    }
  }
  errno = saved_errno;
  return error;
}

}  // namespace

extern "C" {

// Lets a test check that the shim is loaded: dlsym(RTLD_DEFAULT, ...).
__attribute__((visibility("default"))) int berth_fault_shim_loaded() { return 1; }

__attribute__((visibility("default"))) int fsync(int fd) {
  static std::atomic<void*> slot{nullptr};
  if (const int error = FaultFor(fd, Op::kFsync); error != 0) {
    errno = error;
    return -1;
  }
  auto fn = NextAs<int (*)(int)>(slot, "fsync");
  return fn != nullptr ? fn(fd) : (errno = ENOSYS, -1);
}

__attribute__((visibility("default"))) int fdatasync(int fd) {
  static std::atomic<void*> slot{nullptr};
  if (const int error = FaultFor(fd, Op::kFsync); error != 0) {
    errno = error;
    return -1;
  }
  auto fn = NextAs<int (*)(int)>(slot, "fdatasync");
  return fn != nullptr ? fn(fd) : (errno = ENOSYS, -1);
}

__attribute__((visibility("default"))) ssize_t write(int fd, const void* buf, size_t count) {
  if (const int error = FaultFor(fd, Op::kWrite); error != 0) {
    errno = error;
    return -1;
  }
  return RealWrite(fd, buf, count);
}

__attribute__((visibility("default"))) ssize_t pwrite(int fd, const void* buf, size_t count,
                                                      off_t offset) {
  static std::atomic<void*> slot{nullptr};
  if (const int error = FaultFor(fd, Op::kWrite); error != 0) {
    errno = error;
    return -1;
  }
  auto fn = NextAs<ssize_t (*)(int, const void*, size_t, off_t)>(slot, "pwrite");
  return fn != nullptr ? fn(fd, buf, count, offset) : (errno = ENOSYS, -1);
}

__attribute__((visibility("default"))) ssize_t pwrite64(int fd, const void* buf, size_t count,
                                                        off64_t offset) {
  static std::atomic<void*> slot{nullptr};
  if (const int error = FaultFor(fd, Op::kWrite); error != 0) {
    errno = error;
    return -1;
  }
  auto fn = NextAs<ssize_t (*)(int, const void*, size_t, off64_t)>(slot, "pwrite64");
  return fn != nullptr ? fn(fd, buf, count, offset) : (errno = ENOSYS, -1);
}

__attribute__((visibility("default"))) ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  static std::atomic<void*> slot{nullptr};
  if (const int error = FaultFor(fd, Op::kWrite); error != 0) {
    errno = error;
    return -1;
  }
  auto fn = NextAs<ssize_t (*)(int, const struct iovec*, int)>(slot, "writev");
  return fn != nullptr ? fn(fd, iov, iovcnt) : (errno = ENOSYS, -1);
}

__attribute__((visibility("default"))) int fallocate(int fd, int mode, off_t offset, off_t len) {
  static std::atomic<void*> slot{nullptr};
  if (const int error = FaultFor(fd, Op::kWrite); error != 0) {
    errno = error;
    return -1;
  }
  auto fn = NextAs<int (*)(int, int, off_t, off_t)>(slot, "fallocate");
  return fn != nullptr ? fn(fd, mode, offset, len) : (errno = ENOSYS, -1);
}

__attribute__((visibility("default"))) int posix_fallocate(int fd, off_t offset, off_t len) {
  static std::atomic<void*> slot{nullptr};
  if (const int error = FaultFor(fd, Op::kWrite); error != 0) return error;
  auto fn = NextAs<int (*)(int, off_t, off_t)>(slot, "posix_fallocate");
  return fn != nullptr ? fn(fd, offset, len) : ENOSYS;
}

}  // extern "C"
