// Unix sockets and file descriptors: peer credentials, length-prefixed frames carrying fds
// (SCM_RIGHTS), fd inspection, and sealed memfd copies of files.
//
// Every error that reaches JavaScript is an Error with a string `code` property: an errno name
// (ENOENT, EPIPE, ...), one of the frame codes (ETRUNCATED, EFRAMETOOBIG, ETOOMANYFDS, ETIMEDOUT),
// or ERR_INVALID_ARG_VALUE for a TypeError about the arguments.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "modules.h"
#include "sha256.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

namespace ward {
namespace {

constexpr size_t kMaxFrameBytes = 16u << 20;  // largest maxBytes recvFrame accepts
constexpr size_t kMaxFrameFds = 16;           // largest fd count per frame, both directions
constexpr int64_t kMaxTimeoutMs = INT_MAX;    // ~24.8 days, like setTimeout's limit
constexpr int kConnectTimeoutSec = 10;        // bound on a blocking connect() to a full backlog
constexpr size_t kCopyChunk = 64 * 1024;

// ---- errors ----------------------------------------------------------------------------------

const char* ErrnoCode(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "EIO";
}

std::string ErrnoText(int err) {
  const char* desc = strerrordesc_np(err);
  return desc ? desc : ("errno " + std::to_string(err));
}

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Value().Set("code", Napi::String::New(env, code));
  return err;
}

Napi::Error MakeErrnoError(Napi::Env env, int err, const std::string& op) {
  return MakeError(env, ErrnoCode(err), op + ": " + ErrnoText(err));
}

void ThrowErrno(Napi::Env env, int err, const std::string& op) {
  MakeErrnoError(env, err, op).ThrowAsJavaScriptException();
}

void ThrowCode(Napi::Env env, const std::string& code, const std::string& message) {
  MakeError(env, code, message).ThrowAsJavaScriptException();
}

Napi::Error MakeArgError(Napi::Env env, const std::string& message) {
  Napi::Error err = Napi::TypeError::New(env, message);
  err.Value().Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
  return err;
}

// ---- argument checks: each returns an empty string when the value is acceptable ---------------

std::string CheckInt(const Napi::Value& v, const char* name, int64_t min, int64_t max, int64_t* out) {
  if (!v.IsNumber()) return std::string(name) + " must be a number";
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min) ||
      d > static_cast<double>(max)) {
    return std::string(name) + " must be an integer in [" + std::to_string(min) + ", " +
           std::to_string(max) + "]";
  }
  *out = static_cast<int64_t>(d);
  return std::string();
}

std::string CheckFd(const Napi::Value& v, const char* name, int* out) {
  int64_t x = 0;
  std::string problem = CheckInt(v, name, 0, INT_MAX, &x);
  if (problem.empty()) *out = static_cast<int>(x);
  return problem;
}

// A string without NUL bytes (those would silently truncate a path or name in C).
std::string CheckString(const Napi::Value& v, const char* name, std::string* out) {
  if (!v.IsString()) return std::string(name) + " must be a string";
  *out = v.As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) return std::string(name) + " must not contain NUL";
  return std::string();
}

// Throws a TypeError if problem is not empty; returns true if it threw.
bool ThrowIf(Napi::Env env, const std::string& problem) {
  if (problem.empty()) return false;
  MakeArgError(env, problem).ThrowAsJavaScriptException();
  return true;
}

// ---- small helpers ---------------------------------------------------------------------------

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) {
      int saved = errno;
      close(fd_);  // Linux frees the fd even when close reports EINTR or EIO; nothing to retry
      errno = saved;
    }
    fd_ = fd;
  }

 private:
  int fd_;
};

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // cannot fail for CLOCK_MONOTONIC with a valid pointer
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Waits until fd is ready for events or the deadline passes. Returns 0 when ready (or when the
// fd reports an error or hangup, which the next I/O call turns into its errno), ETIMEDOUT, or
// another errno.
int WaitFd(int fd, short events, int64_t deadlineNs) {
  for (;;) {
    int64_t left = deadlineNs - NowNs();
    if (left <= 0) return ETIMEDOUT;
    int64_t ms = (left + 999999) / 1000000;
    if (ms > INT_MAX) ms = INT_MAX;
    struct pollfd p;
    p.fd = fd;
    p.events = events;
    p.revents = 0;
    int r = poll(&p, 1, static_cast<int>(ms));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) continue;  // the loop re-checks the deadline
    if (p.revents & POLLNVAL) return EBADF;
    return 0;
  }
}

void StoreBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

const char* FileType(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "file";
    case S_IFDIR: return "dir";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "socket";
    case S_IFCHR: return "char";
    case S_IFBLK: return "block";
    case S_IFLNK: return "symlink";
    default: return "unknown";
  }
}

// Room for kMaxFrameFds fds plus one credentials message, should the socket have SO_PASSCRED.
constexpr size_t kControlBytes = CMSG_SPACE(sizeof(int) * kMaxFrameFds) + CMSG_SPACE(sizeof(struct ucred));

// Appends the fds an SCM_RIGHTS message brought to *fds (they are ours to close from here on)
// and closes any pidfd (SCM_PIDFD) the kernel added unasked.
void CollectFds(struct msghdr* msg, std::vector<int>* fds) {
  for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type != SCM_RIGHTS && c->cmsg_type != SCM_PIDFD) continue;
    if (c->cmsg_len < CMSG_LEN(0)) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* p = CMSG_DATA(c);
    for (size_t i = 0; i < count; i++) {
      int fd;
      std::memcpy(&fd, p + i * sizeof(int), sizeof fd);
      if (fd < 0) continue;
      if (c->cmsg_type == SCM_RIGHTS) {
        fds->push_back(fd);
      } else {
        close(fd);  // a pidfd we never asked for (SO_PASSPIDFD set by someone else)
      }
    }
  }
}

void CloseAll(std::vector<int>* fds) {
  for (int fd : *fds) close(fd);
  fds->clear();
}

// ---- peerCred(fd) ----------------------------------------------------------------------------

Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (ThrowIf(env, CheckFd(info[0], "peerCred: fd", &fd))) return env.Undefined();

  struct ucred cred;
  std::memset(&cred, 0, sizeof cred);
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    ThrowErrno(env, errno, "peerCred: getsockopt(SO_PEERCRED)");
    return env.Undefined();
  }
  if (len != sizeof cred) {
    ThrowCode(env, "EIO", "peerCred: getsockopt(SO_PEERCRED) returned " + std::to_string(len) + " bytes");
    return env.Undefined();
  }

  int raw = -1;
  socklen_t plen = sizeof raw;
  UniqueFd pidfd;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &raw, &plen) != 0) {
    int err = errno;
    // ENOPROTOOPT: kernel older than 6.5. EINVAL: no pidfd can be made for this peer.
    if (err != ENOPROTOOPT && err != EINVAL) {
      ThrowErrno(env, err, "peerCred: getsockopt(SO_PEERPIDFD)");
      return env.Undefined();
    }
  } else {
    pidfd.reset(raw);
    if (plen != sizeof raw || raw < 0) {
      ThrowCode(env, "EIO", "peerCred: getsockopt(SO_PEERPIDFD) returned no fd");
      return env.Undefined();
    }
    // The kernel makes pidfds O_CLOEXEC; make sure, since this fd must not leak into children.
    int fdflags = fcntl(pidfd.get(), F_GETFD);
    if (fdflags < 0) {
      ThrowErrno(env, errno, "peerCred: fcntl(pidfd, F_GETFD)");
      return env.Undefined();
    }
    if (!(fdflags & FD_CLOEXEC) && fcntl(pidfd.get(), F_SETFD, fdflags | FD_CLOEXEC) != 0) {
      ThrowErrno(env, errno, "peerCred: fcntl(pidfd, F_SETFD)");
      return env.Undefined();
    }
  }

  Napi::Object out = Napi::Object::New(env);
  out.Set("uid", Napi::Number::New(env, static_cast<double>(cred.uid)));
  out.Set("gid", Napi::Number::New(env, static_cast<double>(cred.gid)));
  out.Set("pid", Napi::Number::New(env, static_cast<double>(cred.pid)));
  out.Set("pidfd", Napi::Number::New(env, pidfd.get()));
  if (env.IsExceptionPending()) return env.Undefined();  // pidfd closes with the guard
  pidfd.release();
  return out;
}

// ---- recvFrame(fd, maxBytes, maxFds, timeoutMs) ----------------------------------------------

class RecvFrameWorker : public Napi::AsyncWorker {
 public:
  RecvFrameWorker(Napi::Env env, int fd, size_t maxBytes, size_t maxFds, int64_t timeoutMs)
      : Napi::AsyncWorker(env, "ward.recvFrame"),
        deferred_(Napi::Promise::Deferred::New(env)),
        fd_(fd),
        maxBytes_(maxBytes),
        maxFds_(maxFds),
        timeoutMs_(timeoutMs) {
    // One recvmsg adds at most kControlBytes / sizeof(int) fds and the total is checked after
    // each, so the vector never grows past this and push_back never allocates on the worker.
    fds_.reserve(maxFds_ + kControlBytes / sizeof(int) + 1);
  }

  ~RecvFrameWorker() override { CloseFds(); }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    deadlineNs_ = NowNs() + timeoutMs_ * 1000000;

    uint8_t header[4];
    size_t got = 0;
    while (got < sizeof header) {
      ssize_t n = RecvSome(header + got, sizeof header - got);
      if (n < 0) return;
      if (n == 0) {
        if (got == 0) {
          eof_ = true;  // clean end of stream between frames
        } else {
          Fail("ETRUNCATED", "recvFrame: connection closed after " + std::to_string(got) +
                                 " of 4 header bytes");
        }
        return;
      }
      got += static_cast<size_t>(n);
    }

    const uint32_t length = LoadBe32(header);
    if (length > maxBytes_) {
      Fail("EFRAMETOOBIG", "recvFrame: frame of " + std::to_string(length) +
                               " bytes exceeds the limit of " + std::to_string(maxBytes_));
      return;
    }
    if (length > 0) {
      payload_.reset(new (std::nothrow) uint8_t[length]);
      if (!payload_) {
        Fail("ENOMEM", "recvFrame: cannot allocate " + std::to_string(length) + " bytes");
        return;
      }
    }
    size_t off = 0;
    while (off < length) {
      ssize_t n = RecvSome(payload_.get() + off, length - off);
      if (n < 0) return;
      if (n == 0) {
        Fail("ETRUNCATED", "recvFrame: connection closed after " + std::to_string(off) + " of " +
                               std::to_string(length) + " payload bytes");
        return;
      }
      off += static_cast<size_t>(n);
    }
    length_ = length;
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (failed_) {
      CloseFds();
      deferred_.Reject(MakeError(env, code_, message_).Value());
      return;
    }
    if (eof_) {
      deferred_.Resolve(env.Null());
      return;
    }
    Napi::Buffer<uint8_t> data = length_ > 0 ? Napi::Buffer<uint8_t>::Copy(env, payload_.get(), length_)
                                             : Napi::Buffer<uint8_t>::New(env, 0);
    payload_.reset();
    Napi::Object out;
    if (!env.IsExceptionPending()) {
      Napi::Array fds = Napi::Array::New(env, fds_.size());
      for (size_t i = 0; i < fds_.size(); i++) {
        fds.Set(static_cast<uint32_t>(i), Napi::Number::New(env, fds_[i]));
      }
      out = Napi::Object::New(env);
      out.Set("data", data);
      out.Set("fds", fds);
    }
    if (env.IsExceptionPending()) {
      Napi::Error err = env.GetAndClearPendingException();
      CloseFds();
      deferred_.Reject(err.Value());
      return;
    }
    fds_.clear();  // owned by JavaScript from here on
    deferred_.Resolve(out);
  }

  // Execute never calls SetError; this only covers the framework reporting a failure itself.
  void OnError(const Napi::Error& err) override {
    CloseFds();
    deferred_.Reject(err.Value());
  }

 private:
  void Fail(const char* code, std::string message) {
    failed_ = true;
    code_ = code;
    message_ = std::move(message);
    CloseFds();
  }

  void FailErrno(int err, const char* op) {
    Fail(ErrnoCode(err), std::string("recvFrame: ") + op + ": " + ErrnoText(err));
  }

  void CloseFds() {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }

  // One successful recvmsg of at most len bytes into buf, waiting (up to the deadline) while
  // the socket has nothing. Returns the byte count, 0 at end of stream, or -1 after Fail().
  ssize_t RecvSome(uint8_t* buf, size_t len) {
    for (;;) {
      union {
        struct cmsghdr align;
        char bytes[kControlBytes];
      } control;
      std::memset(&control, 0, sizeof control);
      struct iovec iov;
      iov.iov_base = buf;
      iov.iov_len = len;
      struct msghdr msg;
      std::memset(&msg, 0, sizeof msg);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.bytes;
      msg.msg_controllen = sizeof control.bytes;

      // MSG_DONTWAIT: never block inside recvmsg, even on a blocking fd, so the deadline holds.
      ssize_t n = recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
      if (n < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          int w = WaitFd(fd_, POLLIN, deadlineNs_);
          if (w == ETIMEDOUT) {
            Fail("ETIMEDOUT", "recvFrame: no complete frame within " + std::to_string(timeoutMs_) + " ms");
            return -1;
          }
          if (w != 0) {
            FailErrno(w, "poll");
            return -1;
          }
          continue;
        }
        FailErrno(err, "recvmsg");
        return -1;
      }

      TakeFds(&msg);
      if (msg.msg_flags & MSG_CTRUNC) {
        Fail("ETOOMANYFDS", "recvFrame: peer sent more fds than fit in one message (" +
                                std::to_string(kMaxFrameFds) + ")");
        return -1;
      }
      if (fds_.size() > maxFds_) {
        Fail("ETOOMANYFDS", "recvFrame: peer sent " + std::to_string(fds_.size()) +
                                " fds, the limit is " + std::to_string(maxFds_));
        return -1;
      }
      return n;
    }
  }

  void TakeFds(struct msghdr* msg) { CollectFds(msg, &fds_); }

  Napi::Promise::Deferred deferred_;
  const int fd_;
  const size_t maxBytes_;
  const size_t maxFds_;
  const int64_t timeoutMs_;
  int64_t deadlineNs_ = 0;

  std::vector<int> fds_;
  std::unique_ptr<uint8_t[]> payload_;
  size_t length_ = 0;
  bool eof_ = false;
  bool failed_ = false;
  std::string code_;
  std::string message_;
};

Napi::Value RecvFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  int64_t maxBytes = 0, maxFds = 0, timeoutMs = 0;
  std::string problem = CheckFd(info[0], "fd", &fd);
  if (problem.empty()) problem = CheckInt(info[1], "maxBytes", 0, kMaxFrameBytes, &maxBytes);
  if (problem.empty()) problem = CheckInt(info[2], "maxFds", 0, kMaxFrameFds, &maxFds);
  if (problem.empty()) problem = CheckInt(info[3], "timeoutMs", 0, kMaxTimeoutMs, &timeoutMs);
  if (!problem.empty()) {
    // A promise-returning function reports bad arguments through the promise too.
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(MakeArgError(env, "recvFrame: " + problem).Value());
    return deferred.Promise();
  }
  auto* worker = new RecvFrameWorker(env, fd, static_cast<size_t>(maxBytes),
                                     static_cast<size_t>(maxFds), timeoutMs);
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // the worker deletes itself after OnOK/OnError
  return promise;
}

// Reads an array of at most kMaxFrameFds fds into out[]. Returns false after throwing.
bool ReadFds(Napi::Env env, const Napi::Value& v, const char* fn, int* out, size_t* count) {
  if (!v.IsArray()) return !ThrowIf(env, std::string(fn) + ": fds must be an array");
  Napi::Array list = v.As<Napi::Array>();
  const uint32_t n = list.Length();  // once: a getter run by Get() could grow the array
  if (n > kMaxFrameFds) {
    return !ThrowIf(env, std::string(fn) + ": at most " + std::to_string(kMaxFrameFds) + " fds per frame");
  }
  const std::string what = std::string(fn) + ": every fd";
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value item = list.Get(i);
    if (env.IsExceptionPending()) return false;
    if (ThrowIf(env, CheckFd(item, what.c_str(), &out[i]))) return false;
  }
  *count = n;
  return true;
}

// Fills control (at least CMSG_SPACE(sizeof(int) * count) bytes) with one SCM_RIGHTS message.
void PutFds(struct msghdr* msg, char* control, const int* fds, size_t count) {
  msg->msg_control = control;
  msg->msg_controllen = CMSG_SPACE(sizeof(int) * count);
  struct cmsghdr* c = CMSG_FIRSTHDR(msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * count);
  std::memcpy(CMSG_DATA(c), fds, sizeof(int) * count);
}

// ---- sendFrame(fd, data, fds, timeoutMs) -----------------------------------------------------

Napi::Value SendFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  int64_t timeoutMs = 0;
  if (ThrowIf(env, CheckFd(info[0], "sendFrame: fd", &fd))) return env.Undefined();
  if (!info[1].IsBuffer()) {
    ThrowIf(env, "sendFrame: data must be a Buffer");
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  int fds[kMaxFrameFds];
  size_t fdCount = 0;
  if (!ReadFds(env, info[2], "sendFrame", fds, &fdCount)) return env.Undefined();
  if (ThrowIf(env, CheckInt(info[3], "sendFrame: timeoutMs", 0, kMaxTimeoutMs, &timeoutMs))) {
    return env.Undefined();
  }
  const size_t length = data.Length();
  if (length > UINT32_MAX) {
    ThrowIf(env, "sendFrame: data is longer than a frame can carry");
    return env.Undefined();
  }

  uint8_t header[4];
  StoreBe32(header, static_cast<uint32_t>(length));
  struct iovec iov[2];
  iov[0].iov_base = header;
  iov[0].iov_len = sizeof header;
  iov[1].iov_base = data.Data();
  iov[1].iov_len = length;
  size_t first = 0;  // index of the first iovec with bytes left

  union {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * kMaxFrameFds)];
  } control;
  std::memset(&control, 0, sizeof control);

  const int64_t deadlineNs = NowNs() + timeoutMs * 1000000;
  const size_t total = sizeof header + length;
  size_t sent = 0;
  bool fdsSent = fdCount == 0;
  while (sent < total) {
    struct msghdr msg;
    std::memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov + first;
    msg.msg_iovlen = 2 - first;
    if (!fdsSent) {
      // The fds ride on the first sendmsg that moves any bytes, i.e. with the header.
      PutFds(&msg, control.bytes, fds, fdCount);
    }
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        int w = WaitFd(fd, POLLOUT, deadlineNs);
        if (w == ETIMEDOUT) {
          ThrowCode(env, "ETIMEDOUT", "sendFrame: timed out after " + std::to_string(timeoutMs) +
                                          " ms with " + std::to_string(sent) + " of " +
                                          std::to_string(total) + " bytes sent");
          return env.Undefined();
        }
        if (w != 0) {
          ThrowErrno(env, w, "sendFrame: poll");
          return env.Undefined();
        }
        continue;
      }
      ThrowErrno(env, err, "sendFrame: sendmsg");
      return env.Undefined();
    }
    if (n == 0) {
      ThrowCode(env, "EIO", "sendFrame: sendmsg made no progress");
      return env.Undefined();
    }
    fdsSent = true;
    sent += static_cast<size_t>(n);
    size_t advance = static_cast<size_t>(n);
    while (advance > 0 && first < 2) {
      if (advance >= iov[first].iov_len) {
        advance -= iov[first].iov_len;
        iov[first].iov_len = 0;
        first++;
      } else {
        iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + advance;
        iov[first].iov_len -= advance;
        advance = 0;
      }
    }
  }
  return env.Undefined();
}

// ---- recvSome(fd, maxBytes, maxFds) ----------------------------------------------------------
// One non-blocking recvmsg: what the socket holds now, up to maxBytes, with the fds that came
// with it. No framing: the caller assembles frames (see src/helper/connection.ts). Nothing to
// read yet gives empty data with eof false; the end of the stream gives eof true.

Napi::Value RecvSome(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  int64_t maxBytes = 0, maxFds = 0;
  if (ThrowIf(env, CheckFd(info[0], "recvSome: fd", &fd))) return env.Undefined();
  if (ThrowIf(env, CheckInt(info[1], "recvSome: maxBytes", 1, kMaxFrameBytes, &maxBytes))) return env.Undefined();
  if (ThrowIf(env, CheckInt(info[2], "recvSome: maxFds", 0, kMaxFrameFds, &maxFds))) return env.Undefined();

  std::unique_ptr<uint8_t[]> buf(new (std::nothrow) uint8_t[static_cast<size_t>(maxBytes)]);
  if (!buf) {
    ThrowCode(env, "ENOMEM", "recvSome: cannot allocate " + std::to_string(maxBytes) + " bytes");
    return env.Undefined();
  }
  union {
    struct cmsghdr align;
    char bytes[kControlBytes];
  } control;
  std::vector<int> fds;
  fds.reserve(kControlBytes / sizeof(int) + 1);
  ssize_t n = -1;
  struct msghdr msg;
  for (;;) {
    std::memset(&control, 0, sizeof control);
    struct iovec iov;
    iov.iov_base = buf.get();
    iov.iov_len = static_cast<size_t>(maxBytes);
    std::memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      n = -1;
      break;
    }
    ThrowErrno(env, err, "recvSome: recvmsg");
    return env.Undefined();
  }
  if (n >= 0) {
    CollectFds(&msg, &fds);
    if (msg.msg_flags & MSG_CTRUNC) {
      CloseAll(&fds);
      ThrowCode(env, "ETOOMANYFDS", "recvSome: peer sent more fds than fit in one message (" +
                                        std::to_string(kMaxFrameFds) + ")");
      return env.Undefined();
    }
    if (fds.size() > static_cast<size_t>(maxFds)) {
      const size_t count = fds.size();
      CloseAll(&fds);
      ThrowCode(env, "ETOOMANYFDS", "recvSome: peer sent " + std::to_string(count) + " fds, the limit is " +
                                        std::to_string(maxFds));
      return env.Undefined();
    }
    if (n == 0) CloseAll(&fds);  // a stream cannot carry fds without bytes; nothing to keep
  }

  const size_t got = n > 0 ? static_cast<size_t>(n) : 0;
  Napi::Object out = Napi::Object::New(env);
  Napi::Buffer<uint8_t> data = got > 0 ? Napi::Buffer<uint8_t>::Copy(env, buf.get(), got) : Napi::Buffer<uint8_t>::New(env, 0);
  if (!env.IsExceptionPending()) {
    Napi::Array list = Napi::Array::New(env, fds.size());
    for (size_t i = 0; i < fds.size(); i++) list.Set(static_cast<uint32_t>(i), Napi::Number::New(env, fds[i]));
    out.Set("data", data);
    out.Set("fds", list);
    out.Set("eof", Napi::Boolean::New(env, n == 0));
  }
  if (env.IsExceptionPending()) {
    CloseAll(&fds);
    return env.Undefined();
  }
  return out;  // the fds are JavaScript's from here on
}

// ---- sendSome(fd, data, fds) -----------------------------------------------------------------
// One non-blocking sendmsg of as much of data as the socket takes now. Returns the bytes sent,
// 0 when the socket is full (EAGAIN). fds, if any, ride with the first byte: once the call
// returns more than 0 they are sent, and they must not be passed again with the rest.

Napi::Value SendSome(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (ThrowIf(env, CheckFd(info[0], "sendSome: fd", &fd))) return env.Undefined();
  if (!info[1].IsBuffer()) {
    ThrowIf(env, "sendSome: data must be a Buffer");
    return env.Undefined();
  }
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  if (data.Length() == 0) {
    ThrowIf(env, "sendSome: data must not be empty");
    return env.Undefined();
  }
  int fds[kMaxFrameFds];
  size_t fdCount = 0;
  if (!ReadFds(env, info[2], "sendSome", fds, &fdCount)) return env.Undefined();

  union {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * kMaxFrameFds)];
  } control;
  std::memset(&control, 0, sizeof control);
  struct iovec iov;
  iov.iov_base = data.Data();
  iov.iov_len = data.Length();
  struct msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fdCount > 0) PutFds(&msg, control.bytes, fds, fdCount);
  for (;;) {
    ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return Napi::Number::New(env, static_cast<double>(n));
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) return Napi::Number::New(env, 0);
    ThrowErrno(env, err, "sendSome: sendmsg");
    return env.Undefined();
  }
}

// ---- watchFd(fd, onEvent) --------------------------------------------------------------------
// Readiness of an fd on the event loop (a uv_poll_t: epoll, no thread): onEvent(readable,
// writable, error) runs on the main thread each loop turn the fd is ready for what
// setInterest(readable, writable) asked (level-triggered: until the data is read or the
// socket's buffer has room). error means libuv saw POLLERR and stopped watching; the next
// recvSome/sendSome reports the socket's error, and setInterest starts watching again.
//
// Ordering: close() the watcher BEFORE the fd is closed. close() takes the fd out of epoll at
// once (no event is delivered after it, not even one already fetched in the same loop turn);
// the handle's memory is freed later in its uv_close callback. An fd closed while watched could
// be reused by a new socket that the stale watcher would then report on. The fd is switched to
// O_NONBLOCK, and no other libuv handle may be reading or writing it meanwhile (EEXIST): a
// net.Socket opened with pauseOnConnect and never read from qualifies.

// What the uv handle needs; it outlives the FdWatch's close() until libuv's close callback,
// which may run after close() was called from inside onEvent.
struct PollHandle {
  uv_poll_t poll;
  napi_env env = nullptr;
  napi_ref owner = nullptr;  // the FdWatch JS object; strong while watching, so it outlives events
  Napi::FunctionReference callback;
  std::unique_ptr<Napi::AsyncContext> context;
  int events = 0;
};

class FdWatch : public Napi::ObjectWrap<FdWatch> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatch",
                       {
                           InstanceMethod<&FdWatch::SetInterest>("setInterest"),
                           InstanceMethod<&FdWatch::Close>("close"),
                       });
  }

  explicit FdWatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatch>(info) {
    Napi::Env env = info.Env();
    int fd = -1;
    if (ThrowIf(env, CheckFd(info[0], "watchFd: fd", &fd))) return;
    if (!info[1].IsFunction()) {
      ThrowIf(env, "watchFd: onEvent must be a function");
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      ThrowCode(env, "EIO", "watchFd: no event loop");
      return;
    }
    std::unique_ptr<PollHandle> h(new (std::nothrow) PollHandle());
    if (!h) {
      ThrowCode(env, "ENOMEM", "watchFd: out of memory");
      return;
    }
    int r = uv_poll_init(loop, &h->poll, fd);  // touches the loop only when it succeeds
    if (r < 0) {
      ThrowCode(env, uv_err_name(r), "watchFd(" + std::to_string(fd) + "): " + uv_strerror(r));
      return;
    }
    // From here the handle belongs to libuv's loop: it is released only through uv_close.
    PollHandle* p = h.release();
    p->poll.data = p;
    p->env = env;
    p->callback = Napi::Persistent(info[1].As<Napi::Function>());
    p->context.reset(new Napi::AsyncContext(env, "ward.watchFd"));
    if (napi_create_reference(env, info.This(), 1, &p->owner) != napi_ok) p->owner = nullptr;
    handle_ = p;
  }

  ~FdWatch() override {
    // With the handle still open this is the environment being torn down (while watching, the
    // owner reference keeps the object alive): release the JS references now, while the
    // environment still exists, and leave libuv only memory to free.
    if (handle_ != nullptr) {
      handle_->callback.Reset();
      handle_->context.reset();
      if (handle_->owner != nullptr) napi_delete_reference(handle_->env, handle_->owner);
      handle_->owner = nullptr;
      CloseHandle(handle_);
      handle_ = nullptr;
    }
  }

 private:
  Napi::Value SetInterest(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsBoolean() || !info[1].IsBoolean()) {
      ThrowIf(env, "setInterest: readable and writable must be booleans");
      return env.Undefined();
    }
    if (handle_ == nullptr) return env.Undefined();  // closed: nothing to watch
    const int events = (info[0].As<Napi::Boolean>().Value() ? UV_READABLE : 0) |
                       (info[1].As<Napi::Boolean>().Value() ? UV_WRITABLE : 0);
    if (events == handle_->events) return env.Undefined();
    int r = events == 0 ? uv_poll_stop(&handle_->poll) : uv_poll_start(&handle_->poll, events, OnPoll);
    if (r < 0) {
      ThrowCode(env, uv_err_name(r), std::string("setInterest: ") + uv_strerror(r));
      return env.Undefined();
    }
    handle_->events = events;
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) {
      PollHandle* p = handle_;
      handle_ = nullptr;
      // The JS references go in the close callback: close() may run inside onEvent, whose
      // MakeCallback still uses the async context until it returns.
      CloseHandle(p);
    }
    return info.Env().Undefined();
  }

  // Stops watching now (epoll forgets the fd before this returns) and frees the handle later.
  static void CloseHandle(PollHandle* p) {
    uv_poll_stop(&p->poll);
    p->events = 0;
    uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), OnClosed);
  }

  static void OnClosed(uv_handle_t* handle) {
    PollHandle* p = static_cast<PollHandle*>(handle->data);
    if (p->owner != nullptr || !p->callback.IsEmpty() || p->context) {
      Napi::HandleScope scope(p->env);
      p->callback.Reset();
      p->context.reset();
      if (p->owner != nullptr) napi_delete_reference(p->env, p->owner);  // the FdWatch may go now
      p->owner = nullptr;
    }
    delete p;
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    PollHandle* p = static_cast<PollHandle*>(handle->data);
    if (status < 0) p->events = 0;  // libuv stopped the handle (POLLERR)
    if (p->callback.IsEmpty() || p->owner == nullptr) return;
    Napi::Env env(p->env);
    Napi::HandleScope scope(env);
    napi_value self = nullptr;
    if (napi_get_reference_value(p->env, p->owner, &self) != napi_ok || self == nullptr) return;
    const bool error = status < 0;
    napi_value args[3] = {
        Napi::Boolean::New(env, !error && (events & UV_READABLE) != 0),
        Napi::Boolean::New(env, !error && (events & UV_WRITABLE) != 0),
        Napi::Boolean::New(env, error),
    };
    // MakeCallback: the microtasks (promise reactions) queued by onEvent run when it returns.
    p->callback.MakeCallback(self, 3, args, *p->context);
    // p may be closing now, but is not freed before OnClosed; do not touch it anyway.
    if (env.IsExceptionPending()) {
      Napi::Error err = env.GetAndClearPendingException();
      napi_fatal_exception(env, err.Value());  // as for a throwing event handler: uncaughtException
    }
  }

  PollHandle* handle_ = nullptr;
};

// watchFd(fd, onEvent): a new FdWatch; the constructor is kept for this and not exported.
Napi::Value WatchFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* ctor = static_cast<Napi::FunctionReference*>(info.Data());
  Napi::Object w = ctor->New({info[0], info[1]});
  if (env.IsExceptionPending()) return env.Undefined();
  return w;
}

// ---- connectUnix(path) -----------------------------------------------------------------------

Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (ThrowIf(env, CheckString(info[0], "connectUnix: socketPath", &path))) return env.Undefined();
  struct sockaddr_un addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty()) {
    ThrowCode(env, "EINVAL", "connectUnix: empty socket path");
    return env.Undefined();
  }
  if (path.size() >= sizeof addr.sun_path) {
    ThrowCode(env, "ENAMETOOLONG", "connectUnix(" + path + "): path is " + std::to_string(path.size()) +
                                       " bytes, the limit is " + std::to_string(sizeof addr.sun_path - 1));
    return env.Undefined();
  }
  std::memcpy(addr.sun_path, path.data(), path.size());

  UniqueFd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) {
    ThrowErrno(env, errno, "connectUnix(" + path + "): socket");
    return env.Undefined();
  }
  // A blocking connect waits while the listener's backlog is full; SO_SNDTIMEO bounds that wait
  // so the event loop cannot hang on it. The option is cleared again once connected.
  struct timeval tv;
  tv.tv_sec = kConnectTimeoutSec;
  tv.tv_usec = 0;
  if (setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    ThrowErrno(env, errno, "connectUnix(" + path + "): setsockopt(SO_SNDTIMEO)");
    return env.Undefined();
  }
  for (;;) {
    if (connect(sock.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0) break;
    int err = errno;
    if (err == EINTR) continue;  // AF_UNIX stays unconnected when interrupted; retry is safe
    if (err == EAGAIN || err == EWOULDBLOCK) {
      ThrowCode(env, "ETIMEDOUT", "connectUnix(" + path + "): listener backlog stayed full for " +
                                      std::to_string(kConnectTimeoutSec) + " s");
      return env.Undefined();
    }
    ThrowErrno(env, err, "connectUnix(" + path + ")");
    return env.Undefined();
  }
  tv.tv_sec = 0;
  if (setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    ThrowErrno(env, errno, "connectUnix(" + path + "): setsockopt(SO_SNDTIMEO)");
    return env.Undefined();
  }
  return Napi::Number::New(env, sock.release());
}

// ---- socketPair() ----------------------------------------------------------------------------
// A connected pair of Unix stream sockets, both close-on-exec: one end to keep, the other to
// hand to another process (in a frame, or as a child's fd).

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    ThrowErrno(env, errno, "socketpair");
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(uint32_t{0}, Napi::Number::New(env, sv[0]));
  out.Set(uint32_t{1}, Napi::Number::New(env, sv[1]));
  return out;
}

// ---- close(fd) -------------------------------------------------------------------------------

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (ThrowIf(env, CheckFd(info[0], "close: fd", &fd))) return env.Undefined();
  if (close(fd) != 0) {
    int err = errno;
    // On Linux the fd is released even when close reports EINTR; retrying could close another.
    if (err == EINTR) return env.Undefined();
    ThrowErrno(env, err, "close(" + std::to_string(fd) + ")");
  }
  return env.Undefined();
}

// ---- shutdown(fd) ----------------------------------------------------------------------------
// Wakes a recvFrame pending on the socket (poll sees EOF) so the connection can then be closed
// without a worker still reading an fd number the kernel may reuse.

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (ThrowIf(env, CheckFd(info[0], "shutdown: fd", &fd))) return env.Undefined();
  if (shutdown(fd, SHUT_RDWR) != 0 && errno != ENOTCONN) ThrowErrno(env, errno, "shutdown(" + std::to_string(fd) + ")");
  return env.Undefined();
}

// ---- fdInfo(fd) ------------------------------------------------------------------------------

Napi::Value FdInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (ThrowIf(env, CheckFd(info[0], "fdInfo: fd", &fd))) return env.Undefined();
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ThrowErrno(env, errno, "fdInfo: fstat(" + std::to_string(fd) + ")");
    return env.Undefined();
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) {
    ThrowErrno(env, errno, "fdInfo: fcntl(" + std::to_string(fd) + ", F_GETFL)");
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("type", Napi::String::New(env, FileType(st.st_mode)));
  out.Set("mode", Napi::Number::New(env, static_cast<double>(st.st_mode & 07777)));
  out.Set("uid", Napi::Number::New(env, static_cast<double>(st.st_uid)));
  out.Set("gid", Napi::Number::New(env, static_cast<double>(st.st_gid)));
  out.Set("dev", Napi::Number::New(env, static_cast<double>(st.st_dev)));
  out.Set("ino", Napi::Number::New(env, static_cast<double>(st.st_ino)));
  out.Set("accmode", Napi::Number::New(env, flags & O_ACCMODE));
  out.Set("opath", Napi::Boolean::New(env, (flags & O_PATH) != 0));
  return out;
}

// ---- sealedMemfd(filePath, name) -------------------------------------------------------------

Napi::Value SealedMemfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, name;
  if (ThrowIf(env, CheckString(info[0], "sealedMemfd: filePath", &path))) return env.Undefined();
  if (ThrowIf(env, CheckString(info[1], "sealedMemfd: name", &name))) return env.Undefined();
  const std::string where = "sealedMemfd(" + path + ")";

  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is rejected just below anyway.
  UniqueFd src(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK));
  if (src.get() < 0) {
    ThrowErrno(env, errno, where + ": open");
    return env.Undefined();
  }
  struct stat st;
  if (fstat(src.get(), &st) != 0) {
    ThrowErrno(env, errno, where + ": fstat");
    return env.Undefined();
  }
  if (!S_ISREG(st.st_mode)) {
    ThrowCode(env, "EINVAL", where + ": not a regular file");
    return env.Undefined();
  }

  UniqueFd mem(memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (mem.get() < 0) {
    ThrowErrno(env, errno, where + ": memfd_create");
    return env.Undefined();
  }

  std::unique_ptr<uint8_t[]> buf(new (std::nothrow) uint8_t[kCopyChunk]);
  if (!buf) {
    ThrowCode(env, "ENOMEM", where + ": cannot allocate the copy buffer");
    return env.Undefined();
  }
  Sha256 sha;
  for (;;) {
    ssize_t n = read(src.get(), buf.get(), kCopyChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      ThrowErrno(env, errno, where + ": read");
      return env.Undefined();
    }
    if (n == 0) break;
    sha.update(buf.get(), static_cast<size_t>(n));
    size_t off = 0;
    while (off < static_cast<size_t>(n)) {
      ssize_t w = write(mem.get(), buf.get() + off, static_cast<size_t>(n) - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        ThrowErrno(env, errno, where + ": write to memfd");
        return env.Undefined();
      }
      if (w == 0) {
        ThrowCode(env, "EIO", where + ": write to memfd made no progress");
        return env.Undefined();
      }
      off += static_cast<size_t>(w);
    }
  }

  if (fcntl(mem.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
    ThrowErrno(env, errno, where + ": fcntl(F_ADD_SEALS)");
    return env.Undefined();
  }
  if (lseek(mem.get(), 0, SEEK_SET) != 0) {
    ThrowErrno(env, errno, where + ": lseek");
    return env.Undefined();
  }

  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, mem.get()));
  out.Set("sha256", Napi::String::New(env, sha.hexdigest()));
  if (env.IsExceptionPending()) return env.Undefined();  // memfd closes with the guard
  mem.release();
  return out;
}

}  // namespace

void InitSock(Napi::Env env, Napi::Object exports) {
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  exports.Set("recvFrame", Napi::Function::New(env, RecvFrame, "recvFrame"));
  exports.Set("sendFrame", Napi::Function::New(env, SendFrame, "sendFrame"));
  exports.Set("recvSome", Napi::Function::New(env, RecvSome, "recvSome"));
  exports.Set("sendSome", Napi::Function::New(env, SendSome, "sendSome"));
  auto* watchCtor = new Napi::FunctionReference(Napi::Persistent(FdWatch::Define(env)));
  env.AddCleanupHook([watchCtor]() { delete watchCtor; });
  exports.Set("watchFd", Napi::Function::New(env, WatchFd, "watchFd", watchCtor));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix, "connectUnix"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair, "socketPair"));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));
  exports.Set("fdInfo", Napi::Function::New(env, FdInfo, "fdInfo"));
  exports.Set("sealedMemfd", Napi::Function::New(env, SealedMemfd, "sealedMemfd"));
}

}  // namespace ward
