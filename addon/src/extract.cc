// The extractor's hot path: one regular file of a layer, created and filled in a single call
// (open exclusive without following a symlink, write, owner, mode, times, close) instead of six
// calls through node's fs, either at once (writeNewFile) or in order on a thread of its own
// (FileWriter). It runs in the extractor (root of the caller's own user namespace,
// never with host privilege); the path is relative to its working directory, the tree, and every
// parent on it has already been checked to be a real directory by the caller.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "modules.h"

namespace ward {
namespace {

// The errno's name ("EEXIST"), as node's own fs errors carry it in .code.
const char* ErrnoCode(int e) {
  const char* name = strerrorname_np(e);
  return name != nullptr ? name : "EIO";
}

void ThrowErrno(Napi::Env env, int e, const char* syscall, const std::string& path) {
  Napi::Error err = Napi::Error::New(env, std::string(ErrnoCode(e)) + ": " + strerror(e) + ", " + syscall + " '" + path + "'");
  err.Set("code", Napi::String::New(env, ErrnoCode(e)));
  err.Set("errno", Napi::Number::New(env, -e));
  err.Set("syscall", Napi::String::New(env, syscall));
  err.ThrowAsJavaScriptException();
}

struct FileSpec {
  int64_t mode;
  int64_t uid;  // < 0: the creator's ids, setuid and setgid dropped
  int64_t gid;
  int64_t mtime;
};

// Makes one regular file: 0, or the errno of the first failing call (its name in *failed).
// EEXIST from open means nothing was touched.
int MakeFile(const char* path, const uint8_t* p, size_t left, const FileSpec& spec, const char** failed) {
  bool owners = spec.uid >= 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, static_cast<mode_t>(spec.mode & 0777));
  if (fd < 0) {
    *failed = "open";
    return errno;
  }
  int err = 0;
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      *failed = "write";
      err = errno;
      break;
    }
    if (n == 0) {
      *failed = "write";
      err = EIO;
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  struct stat st;
  if (!err && fstat(fd, &st) != 0) *failed = "fstat", err = errno;
  if (!err && owners && (st.st_uid != static_cast<uid_t>(spec.uid) || st.st_gid != static_cast<gid_t>(spec.gid)) &&
      fchown(fd, static_cast<uid_t>(spec.uid), static_cast<gid_t>(spec.gid)) != 0) {
    *failed = "fchown", err = errno;
  }
  mode_t want = static_cast<mode_t>(owners ? spec.mode : (spec.mode & 01777));
  if (!err && (st.st_mode & 07777) != want && fchmod(fd, want) != 0) *failed = "fchmod", err = errno;
  struct timespec times[2];
  times[0].tv_sec = static_cast<time_t>(spec.mtime);
  times[0].tv_nsec = 0;
  times[1] = times[0];
  if (!err && futimens(fd, times) != 0) *failed = "futimens", err = errno;
  // close() is checked: on some file systems it is where a deferred write error shows.
  if (close(fd) != 0 && !err) *failed = "close", err = errno;
  return err;
}

// Checks (path, data, mode, uid, gid, mtime) from info[0..5]; throws a TypeError and returns false if bad.
bool FileArgs(const Napi::CallbackInfo& info, const char* usage, std::string* path, FileSpec* spec) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsString() || !info[1].IsBuffer() || !info[2].IsNumber() || !info[3].IsNumber() ||
      !info[4].IsNumber() || !info[5].IsNumber()) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return false;
  }
  *path = info[0].As<Napi::String>().Utf8Value();
  spec->mode = info[2].As<Napi::Number>().Int64Value();
  spec->uid = info[3].As<Napi::Number>().Int64Value();
  spec->gid = info[4].As<Napi::Number>().Int64Value();
  spec->mtime = info[5].As<Napi::Number>().Int64Value();
  if (path->empty() || path->size() >= PATH_MAX || path->find('\0') != std::string::npos || spec->mode < 0 ||
      spec->mode > 07777 || spec->uid > 65535 || spec->gid > 65535 || (spec->uid < 0) != (spec->gid < 0)) {
    Napi::TypeError::New(env, std::string(usage) + ": bad path, mode or ids").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// writeNewFile(path, data, mode, uid, gid, mtime): 0 when made, EEXIST when something is already
// there (nothing is touched then: the caller clears it and calls again); throws otherwise.
// uid < 0 keeps the creator's ids (and drops setuid/setgid, as the caller asks for then).
Napi::Value WriteNewFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  FileSpec spec;
  if (!FileArgs(info, "writeNewFile(path, data, mode, uid, gid, mtime)", &path, &spec)) return env.Undefined();
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  const char* failed = "open";
  int err = MakeFile(path.c_str(), data.Data(), data.Length(), spec, &failed);
  if (err == EEXIST && strcmp(failed, "open") == 0) return Napi::Number::New(env, EEXIST);
  if (err != 0) {
    ThrowErrno(env, err, failed, path);
    return env.Undefined();
  }
  return Napi::Number::New(env, 0);
}

// A FileWriter makes new regular files on a thread of its own, in the order they are given, so
// that the extractor's main thread parses and checks the next entries meanwhile. Each body is
// copied (the caller's buffer may be reused); the queue is bounded in bytes and in files, and
// write() waits when it is full. Every path given must be new: the caller calls fence() (wait
// until everything queued is on disk) before anything that could touch a queued path. The
// first failure stops the writer: what is still queued is dropped, and write() and fence()
// throw it from then on.
class FileWriter : public Napi::ObjectWrap<FileWriter> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FileWriter",
                       {
                           InstanceMethod<&FileWriter::Write>("write"),
                           InstanceMethod<&FileWriter::Fence>("fence"),
                           InstanceMethod<&FileWriter::Close>("close"),
                       });
  }

  explicit FileWriter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FileWriter>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      Napi::TypeError::New(env, "fileWriter(maxBytes, maxFiles)").ThrowAsJavaScriptException();
      return;
    }
    int64_t bytes = info[0].As<Napi::Number>().Int64Value();
    int64_t files = info[1].As<Napi::Number>().Int64Value();
    if (bytes < 1 || bytes > (int64_t{1} << 30) || files < 1 || files > 65536) {
      Napi::TypeError::New(env, "fileWriter: maxBytes must be 1..2^30 and maxFiles 1..65536").ThrowAsJavaScriptException();
      return;
    }
    maxBytes_ = static_cast<size_t>(bytes);
    maxFiles_ = static_cast<size_t>(files);
    thread_ = std::thread([this] { Run(); });
  }

  ~FileWriter() override { Stop(); }

 private:
  struct Job {
    std::string path;
    std::unique_ptr<uint8_t[]> data;
    size_t len;
    FileSpec spec;
  };

  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      idle_ = true;
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      idle_ = false;
      if (queue_.empty()) return;  // stopping, nothing left
      Job job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      const char* failed = "open";
      int err = MakeFile(job.path.c_str(), job.data.get(), job.len, job.spec, &failed);
      lock.lock();
      busy_ = false;
      queuedBytes_ -= job.len;
      if (err != 0 && errno_ == 0) {
        errno_ = err;
        syscall_ = failed;
        errPath_ = job.path;
        for (const Job& j : queue_) queuedBytes_ -= j.len;
        queue_.clear();
      }
      // Wake the main thread only when it can go on: empty (a fence), down to half (a full
      // queue), or failed; not after every file, which would trade each one for two switches.
      if (waiting_ && (queue_.empty() || errno_ != 0 || (queuedBytes_ <= maxBytes_ / 2 && queue_.size() <= maxFiles_ / 2))) {
        cv_.notify_all();
      }
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!thread_.joinable()) return;
      stop_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }

  // With mu_ held: throws the recorded failure, if any.
  bool ThrowFailure(Napi::Env env) {
    if (errno_ == 0) return false;
    ThrowErrno(env, errno_, syscall_, errPath_);
    return true;
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Job job;
    if (!FileArgs(info, "write(path, data, mode, uid, gid, mtime)", &job.path, &job.spec)) return env.Undefined();
    Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
    job.len = data.Length();
    job.data.reset(new (std::nothrow) uint8_t[job.len > 0 ? job.len : 1]);
    if (!job.data) {
      ThrowErrno(env, ENOMEM, "write", job.path);
      return env.Undefined();
    }
    if (job.len > 0) memcpy(job.data.get(), data.Data(), job.len);
    std::unique_lock<std::mutex> lock(mu_);
    if (!thread_.joinable() || stop_) {
      Napi::Error::New(env, "write: the file writer is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // Full: wait until it is down to half (one body larger than the whole bound goes alone).
    if (queuedBytes_ >= maxBytes_ || queue_.size() >= maxFiles_) {
      waiting_ = true;
      cv_.wait(lock, [this] {
        return errno_ != 0 || queue_.empty() || (queuedBytes_ <= maxBytes_ / 2 && queue_.size() <= maxFiles_ / 2);
      });
      waiting_ = false;
    }
    if (ThrowFailure(env)) return env.Undefined();
    queuedBytes_ += job.len;
    queue_.push_back(std::move(job));
    if (idle_) cv_.notify_all();
    return env.Undefined();
  }

  Napi::Value Fence(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::unique_lock<std::mutex> lock(mu_);
    waiting_ = true;
    cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
    waiting_ = false;
    ThrowFailure(env);
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  size_t queuedBytes_ = 0;
  size_t maxBytes_ = 0;
  size_t maxFiles_ = 0;
  bool busy_ = false;
  bool idle_ = false;     // the thread waits for work
  bool waiting_ = false;  // the main thread waits for the thread
  bool stop_ = false;
  int errno_ = 0;
  const char* syscall_ = "";
  std::string errPath_;
  std::thread thread_;
};

Napi::FunctionReference* writerCtor = nullptr;

// fileWriter(maxBytes, maxFiles): a new FileWriter.
Napi::Value NewFileWriter(const Napi::CallbackInfo& info) {
  std::vector<napi_value> args;
  for (size_t i = 0; i < info.Length(); i++) args.push_back(info[i]);
  return writerCtor->New(args);
}

}  // namespace

void InitExtract(Napi::Env env, Napi::Object exports) {
  exports.Set("writeNewFile", Napi::Function::New(env, WriteNewFile, "writeNewFile"));
  // Kept for the life of the process, as the addon's other classes are.
  writerCtor = new Napi::FunctionReference(Napi::Persistent(FileWriter::Define(env)));
  exports.Set("fileWriter", Napi::Function::New(env, NewFileWriter, "fileWriter"));
}

}  // namespace ward
