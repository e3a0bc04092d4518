// sealTree: copy a hostile, user-extracted tree into the helper's root-owned store without
// following any symlink, and digest what was copied (DESIGN.md §3, invariants 4 and 5).
//
// ---------------------------------------------------------------------------------------------
// TREE DIGEST FORMAT, version 1 (stable: other code re-hashes sealed trees to verify them)
// ---------------------------------------------------------------------------------------------
//   digest  = "sha256:" + lowercase hex of SHA-256(stream)
//   stream  = "ward-tree-v1\n" record*
//
//   Records come in depth-first pre-order from the root: a directory's record, then the records
//   of its children (and their subtrees), children in ascending order of their names compared as
//   unsigned bytes (memcmp order; a name that is a prefix of another sorts first). Names are the
//   raw bytes found on disk: no Unicode normalisation, no case folding, no escaping.
//
//   path    = "." for the root; "./" name for a child of the root; parent-path "/" name below.
//
//   record  = type NUL path NUL mode NUL uid NUL gid NUL [content] "\n"
//     type    one byte: 'd' directory, 'f' regular file, 'l' symlink, 'p' fifo
//     mode    (st_mode & 07777) in decimal ASCII, no leading zeros ("0" for 0; 0755 is "493";
//             symlinks are 0777 on Linux, so "511")
//     uid     st_uid - uidBase, decimal ASCII (ids relative to the caller's range, so the same
//             image sealed by two users with different ranges has the same digest)
//     gid     st_gid - gidBase, decimal ASCII
//     content for 'f': size NUL sha256 NUL, where size is the byte count in decimal ASCII and
//                      sha256 the 64 lowercase hex digits of SHA-256 of the content;
//             for 'l': target NUL (the raw bytes of the link target, 1..4095 bytes);
//             for 'd' and 'p': nothing.
//
//   Every field is terminated by NUL, and no field can contain NUL (names, paths and link
//   targets cannot on Linux, numbers and hex never do); the number of fields is fixed by the
//   type byte, so the stream parses back unambiguously. Timestamps, xattrs, link counts, inode
//   numbers and the order getdents returns are not part of the digest.
//
// What a seal guarantees (and how):
//   - Nothing is resolved through a symlink. Each entry is opened by its single name relative to
//     its parent's directory fd, with openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
//     RESOLVE_BENEATH | RESOLVE_NO_XDEV) and O_PATH|O_NOFOLLOW (openat with O_NOFOLLOW plus an
//     st_dev check where openat2 is missing), then fstat'ed: that fstat, not d_type or an earlier
//     lstat, decides what the entry is. A symlink is read through its own O_PATH fd
//     (readlinkat(fd, "")), a directory is reopened for reading as "." beneath its O_PATH fd, and
//     a regular file is reopened through /proc/self/fd/N of its O_PATH fd, so a name swapped
//     between the checks cannot redirect us, and no device node is ever opened (an open() of a
//     device as root can have side effects; O_PATH never calls the driver).
//   - Only directories, regular files, symlinks and fifos are accepted (ESEALTYPE otherwise); every
//     entry must be owned by a uid and gid inside the caller's range (ESEALOWNER), which is what
//     stops a hardlink to a host file the caller could not read from being copied. Mount points
//     inside the tree and trees on FUSE are refused (ESEALXDEV, ESEALTYPE).
//   - Regular files are copied from the fd that was checked, through a bounded buffer, hashing
//     the bytes as they are written: the digest describes the copy, not the source. A size that
//     differs from the fstat (growing or shrinking under us) is ESEALRACE. Files are opened with
//     O_NONBLOCK so a lease held by the caller cannot stall the helper.
//   - Hardlinks inside the tree are copied as separate files (the digest is per path anyway).
//   - No xattr is copied (security.capability, security.selinux and user.* are all dropped; the
//     helper labels the store itself). ACLs inherited from the store are stripped from the new
//     root so nothing below inherits them. Owners are set before modes (chown clears setuid),
//     directory modes after their contents (a 0555 directory must still be fillable); mtimes
//     and atimes are copied but are not part of the digest.
//   - On any failure everything created under dstParentFd/dstName is removed, via dir fds and
//     unlinkat, never following a symlink, and the promise rejects with an Error whose `code` is
//     one of ESEALTYPE, ESEALOWNER, ESEALLIMIT, ESEALEXISTS, ESEALRACE, ESEALXDEV, ESEALNAME,
//     ESEALDEST, ESEALIO and whose message is one line: "CODE: <relative path>: <cause>".
//
// The fds the caller passes stay the caller's: they are duplicated on the JS thread (so a close
// or reuse of the number while the seal runs changes nothing) and never closed. The walk uses its
// own open file descriptions, so the caller's directory offset is not moved either.
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "modules.h"
#include "sha256.h"

namespace ward {
namespace {

constexpr size_t kMaxRelPath = 4096;      // bytes of a relative path ("./a/b")
constexpr size_t kMaxLinkTarget = 4095;   // the kernel's own limit: PATH_MAX with its NUL
constexpr size_t kMaxName = 255;          // NAME_MAX
constexpr size_t kCopyBuffer = 1 << 20;   // bytes read and written at a time
constexpr size_t kDentsBuffer = 64 << 10; // bytes of getdents64 records at a time
constexpr size_t kShownPath = 512;        // bytes of a path shown in an error message
constexpr double kMaxSafeInteger = 9007199254740991.0;

// ----- small helpers ---------------------------------------------------------------------------

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(other.Release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // close() is not retried on EINTR: on Linux the fd is gone whatever close returns.
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Runs a syscall-like expression again while it fails with EINTR.
template <typename F>
auto RetryEintr(F f) -> decltype(f()) {
  for (;;) {
    auto r = f();
    if (r != -1 || errno != EINTR) return r;
  }
}

// A path as it may appear in a one-line message: printable ASCII kept, everything else
// (newlines, escapes, non-ASCII bytes) as \xNN, backslash doubled, long paths cut.
std::string Show(const std::string& path) {
  std::string out;
  size_t n = std::min(path.size(), kShownPath);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = static_cast<unsigned char>(path[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (n < path.size()) out += "...";
  return out;
}

std::string ErrnoText(int err) {
  // strerrordesc_np (glibc >= 2.32) is thread-safe and locale-independent; strerror is neither.
  const char* desc = strerrordesc_np(err);
  const char* name = strerrorname_np(err);
  std::string out = name ? name : ("errno " + std::to_string(err));
  if (desc) out += std::string(" (") + desc + ")";
  return out;
}

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && (a.st_mode & S_IFMT) == (b.st_mode & S_IFMT);
}

const char* TypeName(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR: return "directory";
    case S_IFREG: return "regular file";
    case S_IFLNK: return "symlink";
    case S_IFIFO: return "fifo";
    case S_IFCHR: return "character device";
    case S_IFBLK: return "block device";
    case S_IFSOCK: return "socket";
    default: return "file of unknown type";
  }
}

// openat2 is tried first; ENOSYS (old kernel, or a seccomp filter that hides it) switches the
// whole process to openat + O_NOFOLLOW, where the caller's st_dev check stands in for NO_XDEV.
std::atomic<bool> g_haveOpenat2{true};

// Opens one name beneath dirfd without following symlinks or crossing mounts. flags always get
// O_NOFOLLOW|O_CLOEXEC. Returns -1 with errno set.
int OpenBeneath(int dirfd, const char* name, int flags) {
  flags |= O_NOFOLLOW | O_CLOEXEC;
  if (g_haveOpenat2.load(std::memory_order_relaxed)) {
    struct open_how how;
    std::memset(&how, 0, sizeof how);
    how.flags = static_cast<uint64_t>(flags);
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH | RESOLVE_NO_XDEV;
    for (int again = 0;;) {
      long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof how);
      if (fd >= 0) return static_cast<int>(fd);
      if (errno == EINTR) continue;
      // EAGAIN: a concurrent rename made the kernel unsure the walk stayed beneath; try again.
      if (errno == EAGAIN && ++again < 64) continue;
      if (errno != ENOSYS) return -1;
      g_haveOpenat2.store(false, std::memory_order_relaxed);
      break;
    }
  }
  return RetryEintr([&] { return openat(dirfd, name, flags); });
}

// Writes all of len bytes, across short writes and EINTR.
bool WriteAll(int fd, const unsigned char* p, size_t len) {
  while (len > 0) {
    ssize_t n = RetryEintr([&] { return write(fd, p, len); });
    if (n < 0) return false;
    if (n == 0) {
      errno = EIO;
      return false;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// ----- the seal itself -------------------------------------------------------------------------

struct Limits {
  uint64_t uidBase = 0, uidCount = 0, gidBase = 0, gidCount = 0;
  uint64_t maxEntries = 0, maxBytes = 0, maxDepth = 0;
};

// One directory being copied: the source opened for reading, the copy, and its pending names.
struct Frame {
  Fd src;
  Fd dst;
  std::string rel;
  struct stat st;  // of the source, applied to the copy once its contents are in
  std::vector<std::string> names;
  size_t next = 0;
  uint64_t depth = 0;
};

class Sealer {
 public:
  Sealer(int srcFd, int dstParentFd, std::string dstName, const Limits& limits)
      : src_(srcFd), dstParent_(dstParentFd), dstName_(std::move(dstName)), lim_(limits) {}

  // Runs the whole seal; on failure removes what it created and returns false (see code()).
  bool Run() {
    bool ok = Seal();
    stack_.clear();  // closes every fd of the walk before any cleanup
    if (!ok && created_) {
      std::string why;
      if (!RemoveTree(dstParent_, dstName_, 0, &why)) {
        message_ += "; and removing the partial copy " + Show(dstName_) + " failed: " + why;
      }
    }
    return ok;
  }

  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& digest() const { return digest_; }
  uint64_t entries() const { return entries_; }
  uint64_t bytes() const { return bytes_; }

 private:
  bool Fail(const char* code, const std::string& rel, const std::string& cause) {
    if (code_.empty()) {
      code_ = code;
      message_ = std::string(code) + ": " + Show(rel) + ": " + cause;
    }
    return false;
  }

  bool FailSys(const std::string& rel, const std::string& what, int err, const char* code = "ESEALIO") {
    return Fail(code, rel, what + " failed: " + ErrnoText(err));
  }

  bool FailLimit(const std::string& rel, const char* name, uint64_t value, const std::string& detail) {
    return Fail("ESEALLIMIT", rel, std::string("limit ") + name + " " + std::to_string(value) + " exceeded (" + detail + ")");
  }

  bool Seal() {
    struct stat pst;
    if (fstat(dstParent_, &pst) != 0) return FailSys(".", "fstat of dstParentFd", errno, "ESEALDEST");
    if (!S_ISDIR(pst.st_mode)) return Fail("ESEALDEST", ".", "dstParentFd is a " + std::string(TypeName(pst.st_mode)) + ", not a directory");
    if (pst.st_uid != geteuid() || (pst.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      // Anyone else who can write there could swap dstName under us or reach the copy.
      return Fail("ESEALDEST", ".", "dstParentFd must be a directory owned by uid " + std::to_string(geteuid()) +
                                         " and not writable by group or others");
    }

    struct stat rst;
    if (fstat(src_, &rst) != 0) return FailSys(".", "fstat of srcDirFd", errno);
    if (!S_ISDIR(rst.st_mode)) return Fail("ESEALTYPE", ".", std::string("srcDirFd is a ") + TypeName(rst.st_mode) + ", not a directory");
    struct statfs sfs;
    if (RetryEintr([&] { return fstatfs(src_, &sfs); }) != 0) return FailSys(".", "fstatfs of srcDirFd", errno);
    if (static_cast<unsigned long>(sfs.f_type) == FUSE_SUPER_MAGIC) {
      // The caller would serve every read and could stall the helper forever.
      return Fail("ESEALTYPE", ".", "the tree is on a FUSE filesystem");
    }
    if (!CheckOwner(".", rst)) return false;
    rootDev_ = rst.st_dev;

    // The regular files of the tree are reopened for reading through their O_PATH fds.
    procFd_.Reset(RetryEintr([] { return open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC); }));
    if (!procFd_.ok()) return FailSys(".", "open of /proc/self/fd", errno);
    struct statfs pfs;
    if (RetryEintr([&] { return fstatfs(procFd_.get(), &pfs); }) != 0) return FailSys(".", "fstatfs of /proc/self/fd", errno);
    if (static_cast<unsigned long>(pfs.f_type) != PROC_SUPER_MAGIC) return Fail("ESEALIO", ".", "/proc/self/fd is not procfs");

    copyBuf_.reset(new unsigned char[kCopyBuffer]);
    dentsBuf_.reset(new uint64_t[kDentsBuffer / sizeof(uint64_t)]);

    // A fresh open file description, so the caller's fd offset is never moved by getdents.
    Fd rootSrc(OpenBeneath(src_, ".", O_RDONLY | O_DIRECTORY));
    if (!rootSrc.ok()) return FailSys(".", "open of the source root", errno);
    struct stat rst2;
    if (fstat(rootSrc.get(), &rst2) != 0) return FailSys(".", "fstat", errno);
    if (!SameFile(rst, rst2)) return Fail("ESEALRACE", ".", "the source root changed while it was opened");

    if (mkdirat(dstParent_, dstName_.c_str(), 0700) != 0) {
      if (errno == EEXIST) return Fail("ESEALEXISTS", ".", "destination " + Show(dstName_) + " already exists");
      return FailSys(".", "mkdir of destination " + Show(dstName_), errno);
    }
    created_ = true;
    Fd rootDst(RetryEintr([&] { return openat(dstParent_, dstName_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); }));
    if (!rootDst.ok()) return FailSys(".", "open of destination " + Show(dstName_), errno);
    // ACLs inherited from the store would otherwise be inherited by everything below.
    for (const char* acl : {"system.posix_acl_default", "system.posix_acl_access"}) {
      if (fremovexattr(rootDst.get(), acl) != 0 && errno != ENODATA && errno != EOPNOTSUPP) {
        return FailSys(".", std::string("removing ") + acl + " from the destination", errno);
      }
    }

    static const char kHeader[] = "ward-tree-v1\n";
    tree_.update(kHeader, sizeof kHeader - 1);

    entries_ = 1;
    if (lim_.maxEntries < 1) return FailLimit(".", "maxEntries", lim_.maxEntries, "the root itself is an entry");
    Record('d', ".", rst, nullptr, nullptr);

    auto root = std::make_unique<Frame>();
    root->src = std::move(rootSrc);
    root->dst = std::move(rootDst);
    root->rel = ".";
    root->st = rst;
    root->depth = 0;
    if (!ReadNames(*root)) return false;
    stack_.push_back(std::move(root));

    while (!stack_.empty()) {
      Frame& top = *stack_.back();
      if (top.next < top.names.size()) {
        std::string name = std::move(top.names[top.next++]);
        queued_--;
        std::unique_ptr<Frame> child;
        if (!Entry(top, name, &child)) return false;
        if (child) stack_.push_back(std::move(child));
        continue;
      }
      // All contents are in: now owner, mode (after chown, which clears set-id bits) and times.
      if (!SetAttrs(top.dst.get(), top.rel, top.st)) return false;
      stack_.pop_back();
    }

    digest_ = "sha256:" + tree_.hexdigest();
    return true;
  }

  bool CheckOwner(const std::string& rel, const struct stat& st) {
    uint64_t uid = st.st_uid, gid = st.st_gid;
    if (uid < lim_.uidBase || uid - lim_.uidBase >= lim_.uidCount) {
      return Fail("ESEALOWNER", rel, "owner uid " + std::to_string(uid) + " is outside the caller's range [" +
                                         std::to_string(lim_.uidBase) + ", " + std::to_string(lim_.uidBase + lim_.uidCount) + ")");
    }
    if (gid < lim_.gidBase || gid - lim_.gidBase >= lim_.gidCount) {
      return Fail("ESEALOWNER", rel, "group gid " + std::to_string(gid) + " is outside the caller's range [" +
                                         std::to_string(lim_.gidBase) + ", " + std::to_string(lim_.gidBase + lim_.gidCount) + ")");
    }
    return true;
  }

  void Record(char type, const std::string& rel, const struct stat& st, const std::string* a, const std::string* b) {
    std::string r;
    r.reserve(rel.size() + 128);
    r += type;
    r += '\0';
    r += rel;
    r += '\0';
    r += std::to_string(st.st_mode & 07777);
    r += '\0';
    r += std::to_string(static_cast<uint64_t>(st.st_uid) - lim_.uidBase);
    r += '\0';
    r += std::to_string(static_cast<uint64_t>(st.st_gid) - lim_.gidBase);
    r += '\0';
    if (a) {
      r += *a;
      r += '\0';
    }
    if (b) {
      r += *b;
      r += '\0';
    }
    r += '\n';
    tree_.update(r.data(), r.size());
  }

  // Reads, checks and sorts the names of a directory. Bounded by maxEntries (counting the names
  // already read and not yet copied), so a directory of 10^7 entries fails early.
  bool ReadNames(Frame& f) {
    auto* buf = reinterpret_cast<unsigned char*>(dentsBuf_.get());
    for (;;) {
      ssize_t n = RetryEintr([&] { return getdents64(f.src.get(), buf, kDentsBuffer); });
      if (n < 0) return FailSys(f.rel, "getdents64", errno);
      if (n == 0) break;
      size_t off = 0;
      while (off < static_cast<size_t>(n)) {
        struct dirent64 d;
        constexpr size_t kNameOff = offsetof(struct dirent64, d_name);
        if (static_cast<size_t>(n) - off < kNameOff) return Fail("ESEALIO", f.rel, "malformed getdents64 record");
        std::memcpy(&d, buf + off, kNameOff);
        size_t reclen = d.d_reclen;
        if (reclen <= kNameOff || reclen > static_cast<size_t>(n) - off) return Fail("ESEALIO", f.rel, "malformed getdents64 record");
        const char* name = reinterpret_cast<const char*>(buf + off + kNameOff);
        size_t room = reclen - kNameOff;
        size_t len = strnlen(name, room);
        off += reclen;
        if (len == room) return Fail("ESEALNAME", f.rel, "a directory entry name is not NUL-terminated");
        if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) continue;
        if (len == 0) return Fail("ESEALNAME", f.rel, "a directory entry has an empty name");
        if (len > kMaxName) return Fail("ESEALNAME", f.rel, "a directory entry name is longer than 255 bytes");
        if (std::memchr(name, '/', len) != nullptr) return Fail("ESEALNAME", f.rel, "a directory entry name contains '/'");
        if (entries_ + queued_ + f.names.size() + 1 > lim_.maxEntries) {
          return FailLimit(f.rel, "maxEntries", lim_.maxEntries, "while listing this directory");
        }
        f.names.emplace_back(name, len);
      }
    }
    // std::string compares through char_traits<char>, which orders as unsigned char: memcmp order.
    std::sort(f.names.begin(), f.names.end());
    for (size_t i = 1; i < f.names.size(); i++) {
      if (f.names[i] == f.names[i - 1]) {
        return Fail("ESEALRACE", f.rel, "the directory listed " + Show(f.names[i]) + " twice (changed while being read)");
      }
    }
    queued_ += f.names.size();
    return true;
  }

  // Copies one entry of parent. A directory comes back in *child, to be walked next.
  bool Entry(Frame& parent, const std::string& name, std::unique_ptr<Frame>* child) {
    std::string rel = parent.rel + "/" + name;
    if (rel.size() > kMaxRelPath) return FailLimit(rel, "maxPath", kMaxRelPath, "a relative path is " + std::to_string(rel.size()) + " bytes");
    entries_++;
    if (entries_ > lim_.maxEntries) return FailLimit(rel, "maxEntries", lim_.maxEntries, "entry " + std::to_string(entries_));
    uint64_t depth = parent.depth + 1;
    if (depth > lim_.maxDepth) return FailLimit(rel, "maxDepth", lim_.maxDepth, "this entry is at depth " + std::to_string(depth));

    // O_PATH: no driver open() for devices, no blocking on fifos, no lease break, no atime.
    Fd path(OpenBeneath(parent.src.get(), name.c_str(), O_PATH));
    if (!path.ok()) {
      int err = errno;
      if (err == EXDEV) return Fail("ESEALXDEV", rel, "a mount point inside the tree");
      if (err == ENOENT) return Fail("ESEALRACE", rel, "the entry vanished while the tree was read");
      if (err == ELOOP) return Fail("ESEALRACE", rel, "the entry became a symlink while the tree was read");
      return FailSys(rel, "open", err);
    }
    struct stat st;
    if (fstat(path.get(), &st) != 0) return FailSys(rel, "fstat", errno);
    if (st.st_dev != rootDev_) return Fail("ESEALXDEV", rel, "a mount point inside the tree (another device)");
    switch (st.st_mode & S_IFMT) {
      case S_IFDIR:
      case S_IFREG:
      case S_IFLNK:
      case S_IFIFO:
        break;
      default:
        return Fail("ESEALTYPE", rel, std::string("a ") + TypeName(st.st_mode) + " is not allowed in an image tree");
    }
    if (!CheckOwner(rel, st)) return false;

    switch (st.st_mode & S_IFMT) {
      case S_IFDIR: return Directory(parent, name, rel, depth, path.get(), st, child);
      case S_IFREG: return RegularFile(parent, name, rel, path.get(), st);
      case S_IFLNK: return Symlink(parent, name, rel, path.get(), st);
      default: return Fifo(parent, name, rel, st);
    }
  }

  bool Directory(Frame& parent, const std::string& name, const std::string& rel, uint64_t depth, int pathFd,
                 const struct stat& st, std::unique_ptr<Frame>* child) {
    Fd src(OpenBeneath(pathFd, ".", O_RDONLY | O_DIRECTORY));
    if (!src.ok()) return FailSys(rel, "open of directory", errno);
    struct stat st2;
    if (fstat(src.get(), &st2) != 0) return FailSys(rel, "fstat", errno);
    if (!SameFile(st, st2)) return Fail("ESEALRACE", rel, "the directory changed while it was opened");

    if (mkdirat(parent.dst.get(), name.c_str(), 0700) != 0) {
      return FailSys(rel, "mkdir in the copy", errno, errno == EEXIST ? "ESEALRACE" : "ESEALIO");
    }
    Fd dst(RetryEintr([&] { return openat(parent.dst.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); }));
    if (!dst.ok()) return FailSys(rel, "open of the copied directory", errno);

    Record('d', rel, st, nullptr, nullptr);
    auto f = std::make_unique<Frame>();
    f->src = std::move(src);
    f->dst = std::move(dst);
    f->rel = rel;
    f->st = st;
    f->depth = depth;
    if (!ReadNames(*f)) return false;
    *child = std::move(f);
    return true;
  }

  bool RegularFile(Frame& parent, const std::string& name, const std::string& rel, int pathFd, const struct stat& st) {
    if (st.st_size < 0) return Fail("ESEALIO", rel, "negative file size");
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size > lim_.maxBytes - bytes_) {
      return FailLimit(rel, "maxBytes", lim_.maxBytes, "this file of " + std::to_string(size) + " bytes brings the total to " +
                                                          std::to_string(bytes_ + size));
    }

    // Reopen exactly the inode the O_PATH fd holds (no second lookup of the name to race).
    char num[16];
    std::snprintf(num, sizeof num, "%d", pathFd);
    Fd in(RetryEintr([&] { return openat(procFd_.get(), num, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC); }));
    if (!in.ok()) {
      int err = errno;
      if (err == EWOULDBLOCK) return Fail("ESEALRACE", rel, "the file is held by a lease");
      return FailSys(rel, "open for reading", err);
    }
    struct stat st2;
    if (fstat(in.get(), &st2) != 0) return FailSys(rel, "fstat", errno);
    if (!SameFile(st, st2)) return Fail("ESEALRACE", rel, "the file changed while it was opened");

    Fd out(RetryEintr([&] {
      return openat(parent.dst.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    }));
    if (!out.ok()) return FailSys(rel, "create in the copy", errno, errno == EEXIST ? "ESEALRACE" : "ESEALIO");

    Sha256 h;
    uint64_t total = 0;
    unsigned char* buf = copyBuf_.get();
    for (;;) {
      // Read at most one byte past the expected size: enough to notice growth, never more.
      uint64_t left = size - total + 1;
      size_t want = left < kCopyBuffer ? static_cast<size_t>(left) : kCopyBuffer;
      ssize_t n = RetryEintr([&] { return read(in.get(), buf, want); });
      if (n < 0) return FailSys(rel, "read", errno);
      if (n == 0) break;
      total += static_cast<uint64_t>(n);
      if (total > size) return Fail("ESEALRACE", rel, "the file grew past its size of " + std::to_string(size) + " bytes while being copied");
      h.update(buf, static_cast<size_t>(n));
      if (!WriteAll(out.get(), buf, static_cast<size_t>(n))) return FailSys(rel, "write to the copy", errno);
    }
    if (total != size) {
      return Fail("ESEALRACE", rel, "the file shrank from " + std::to_string(size) + " to " + std::to_string(total) + " bytes while being copied");
    }
    if (!SetAttrs(out.get(), rel, st)) return false;
    bytes_ += size;

    std::string sizeText = std::to_string(size);
    std::string hex = h.hexdigest();
    Record('f', rel, st, &sizeText, &hex);
    return true;
  }

  bool Symlink(Frame& parent, const std::string& name, const std::string& rel, int pathFd, const struct stat& st) {
    if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > kMaxLinkTarget) {
      return FailLimit(rel, "maxLinkTarget", kMaxLinkTarget, "the target is " + std::to_string(st.st_size) + " bytes");
    }
    // readlinkat on the O_PATH fd itself: the link we fstat'ed is the link we read.
    char target[kMaxLinkTarget + 2];
    ssize_t n = readlinkat(pathFd, "", target, sizeof target);
    if (n < 0) return FailSys(rel, "readlink", errno);
    if (static_cast<size_t>(n) > kMaxLinkTarget) return FailLimit(rel, "maxLinkTarget", kMaxLinkTarget, "the target is longer");
    if (n == 0) return Fail("ESEALTYPE", rel, "a symlink with an empty target");
    std::string t(target, static_cast<size_t>(n));
    if (std::memchr(t.data(), '\0', t.size()) != nullptr) return Fail("ESEALNAME", rel, "a symlink target contains NUL");

    if (symlinkat(t.c_str(), parent.dst.get(), name.c_str()) != 0) {
      return FailSys(rel, "symlink in the copy", errno, errno == EEXIST ? "ESEALRACE" : "ESEALIO");
    }
    if (fchownat(parent.dst.get(), name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return FailSys(rel, "chown of the copied symlink", errno);
    }
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (utimensat(parent.dst.get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return FailSys(rel, "utimensat of the copied symlink", errno);
    }
    Record('l', rel, st, &t, nullptr);
    return true;
  }

  bool Fifo(Frame& parent, const std::string& name, const std::string& rel, const struct stat& st) {
    if (mknodat(parent.dst.get(), name.c_str(), S_IFIFO | 0600, 0) != 0) {
      return FailSys(rel, "mkfifo in the copy", errno, errno == EEXIST ? "ESEALRACE" : "ESEALIO");
    }
    // Opening our own new fifo read-only and non-blocking returns at once, with no writer.
    Fd fd(RetryEintr([&] { return openat(parent.dst.get(), name.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC); }));
    if (!fd.ok()) return FailSys(rel, "open of the copied fifo", errno);
    struct stat st2;
    if (fstat(fd.get(), &st2) != 0) return FailSys(rel, "fstat of the copied fifo", errno);
    if (!S_ISFIFO(st2.st_mode)) return Fail("ESEALIO", rel, "the copied fifo is not a fifo");
    if (!SetAttrs(fd.get(), rel, st)) return false;
    Record('p', rel, st, nullptr, nullptr);
    return true;
  }

  // Owner first (chown clears set-id bits), then the mode, then the times.
  bool SetAttrs(int fd, const std::string& rel, const struct stat& st) {
    if (fchown(fd, st.st_uid, st.st_gid) != 0) return FailSys(rel, "chown of the copy", errno);
    if (fchmod(fd, st.st_mode & 07777) != 0) return FailSys(rel, "chmod of the copy", errno);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (futimens(fd, times) != 0) return FailSys(rel, "futimens of the copy", errno);
    return true;
  }

  // Removes parentFd/name and everything below it, relative to dir fds, never following a
  // symlink (unlinkat removes the link itself; directories are opened with O_NOFOLLOW).
  bool RemoveTree(int parentFd, const std::string& name, size_t depth, std::string* why) {
    if (unlinkat(parentFd, name.c_str(), 0) == 0 || errno == ENOENT) return true;
    if (errno != EISDIR) {
      *why = Show(name) + ": unlink: " + ErrnoText(errno);
      return false;
    }
    if (depth > kMaxRelPath) {
      *why = Show(name) + ": nested too deep";
      return false;
    }
    Fd dir(RetryEintr([&] { return openat(parentFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); }));
    if (!dir.ok()) {
      *why = Show(name) + ": open: " + ErrnoText(errno);
      return false;
    }
    std::vector<std::string> names;
    std::unique_ptr<uint64_t[]> store(new uint64_t[4096 / sizeof(uint64_t)]);
    auto* buf = reinterpret_cast<unsigned char*>(store.get());
    for (;;) {
      ssize_t n = RetryEintr([&] { return getdents64(dir.get(), buf, 4096); });
      if (n < 0) {
        *why = Show(name) + ": getdents64: " + ErrnoText(errno);
        return false;
      }
      if (n == 0) break;
      constexpr size_t kNameOff = offsetof(struct dirent64, d_name);
      for (size_t off = 0; off < static_cast<size_t>(n);) {
        struct dirent64 d;
        std::memcpy(&d, buf + off, kNameOff);
        if (d.d_reclen <= kNameOff || d.d_reclen > static_cast<size_t>(n) - off) {
          *why = Show(name) + ": malformed getdents64 record";
          return false;
        }
        const char* nm = reinterpret_cast<const char*>(buf + off + kNameOff);
        std::string s(nm, strnlen(nm, d.d_reclen - kNameOff));
        off += d.d_reclen;
        if (s != "." && s != "..") names.push_back(std::move(s));
      }
    }
    for (const std::string& n : names) {
      if (!RemoveTree(dir.get(), n, depth + 1, why)) return false;
    }
    dir.Reset();
    if (unlinkat(parentFd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      *why = Show(name) + ": rmdir: " + ErrnoText(errno);
      return false;
    }
    return true;
  }

  const int src_;
  const int dstParent_;
  const std::string dstName_;
  const Limits lim_;

  Sha256 tree_;
  uint64_t entries_ = 0;  // entries copied (or being copied), the root included
  uint64_t queued_ = 0;   // names listed but not yet copied
  uint64_t bytes_ = 0;    // sum of the sizes of the regular files copied
  dev_t rootDev_ = 0;
  bool created_ = false;
  Fd procFd_;
  std::unique_ptr<unsigned char[]> copyBuf_;
  std::unique_ptr<uint64_t[]> dentsBuf_;  // uint64_t: aligned for dirent64
  std::vector<std::unique_ptr<Frame>> stack_;

  std::string code_, message_, digest_;
};

// ----- the JS binding --------------------------------------------------------------------------

class SealWorker : public Napi::AsyncWorker {
 public:
  SealWorker(Napi::Env env, int srcFd, int dstParentFd, std::string dstName, const Limits& limits)
      : Napi::AsyncWorker(env, "ward.sealTree"),
        deferred_(Napi::Promise::Deferred::New(env)),
        srcFd_(srcFd),
        dstParentFd_(dstParentFd),
        sealer_(srcFd, dstParentFd, std::move(dstName), limits) {}

  ~SealWorker() override {
    // Our duplicates, not the caller's fds.
    close(srcFd_);
    close(dstParentFd_);
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    if (!sealer_.Run()) SetError(sealer_.message());
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object result = Napi::Object::New(env);
    result.Set("digest", Napi::String::New(env, sealer_.digest()));
    result.Set("entries", Napi::Number::New(env, static_cast<double>(sealer_.entries())));
    result.Set("bytes", Napi::Number::New(env, static_cast<double>(sealer_.bytes())));
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& e) override {
    Napi::Env env = Env();
    Napi::Error err = Napi::Error::New(env, sealer_.message().empty() ? e.Message() : sealer_.message());
    err.Value().Set("code", Napi::String::New(env, sealer_.code().empty() ? "ESEALIO" : sealer_.code()));
    deferred_.Reject(err.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  int srcFd_;
  int dstParentFd_;
  Sealer sealer_;
};

Napi::Value Rejected(Napi::Env env, Napi::Value error) {
  Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
  d.Reject(error);
  return d.Promise();
}

Napi::Value Invalid(Napi::Env env, const char* code, const std::string& message, bool range) {
  Napi::Error err = range ? static_cast<Napi::Error>(Napi::RangeError::New(env, message))
                          : static_cast<Napi::Error>(Napi::TypeError::New(env, message));
  err.Value().Set("code", Napi::String::New(env, code));
  return Rejected(env, err.Value());
}

// Reads a non-negative integer no larger than max; returns false with *why set otherwise.
bool ReadInteger(Napi::Value v, double max, uint64_t* out, std::string* why, bool* range) {
  if (!v.IsNumber()) {
    *why = "must be a number";
    *range = false;
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > max) {
    char text[64];
    std::snprintf(text, sizeof text, "must be an integer in [0, %.0f], got %g", max, d);
    *why = text;
    *range = true;
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

Napi::Value SealTree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) return Invalid(env, "ERR_INVALID_ARG_TYPE", "sealTree(srcDirFd, dstParentFd, dstName, limits) takes 4 arguments", false);

  uint64_t fds[2];
  const char* fdNames[2] = {"srcDirFd", "dstParentFd"};
  for (int i = 0; i < 2; i++) {
    std::string why;
    bool range = false;
    if (!ReadInteger(info[i], 2147483647.0, &fds[i], &why, &range)) {
      return Invalid(env, range ? "ERR_OUT_OF_RANGE" : "ERR_INVALID_ARG_TYPE", std::string(fdNames[i]) + " " + why, range);
    }
  }

  if (!info[2].IsString()) return Invalid(env, "ERR_INVALID_ARG_TYPE", "dstName must be a string", false);
  std::string dstName = info[2].As<Napi::String>().Utf8Value();
  if (dstName.empty() || dstName.size() > kMaxName || dstName == "." || dstName == ".." ||
      dstName.find('/') != std::string::npos || dstName.find('\0') != std::string::npos) {
    return Invalid(env, "ERR_INVALID_ARG_VALUE", "dstName must be a single path component of 1..255 bytes, not . or .., without / or NUL", false);
  }

  if (!info[3].IsObject()) return Invalid(env, "ERR_INVALID_ARG_TYPE", "limits must be an object", false);
  Napi::Object lo = info[3].As<Napi::Object>();
  Limits lim;
  struct Field {
    const char* name;
    uint64_t* dst;
    double max;
  } fields[] = {
      {"uidBase", &lim.uidBase, 4294967294.0},       {"uidCount", &lim.uidCount, 4294967295.0},
      {"gidBase", &lim.gidBase, 4294967294.0},       {"gidCount", &lim.gidCount, 4294967295.0},
      {"maxEntries", &lim.maxEntries, kMaxSafeInteger}, {"maxBytes", &lim.maxBytes, kMaxSafeInteger},
      {"maxDepth", &lim.maxDepth, kMaxSafeInteger},
  };
  for (const Field& f : fields) {
    Napi::Value v = lo.Get(f.name);
    if (env.IsExceptionPending()) return Rejected(env, env.GetAndClearPendingException().Value());
    std::string why;
    bool range = false;
    if (!ReadInteger(v, f.max, f.dst, &why, &range)) {
      return Invalid(env, range ? "ERR_OUT_OF_RANGE" : "ERR_INVALID_ARG_TYPE", std::string("limits.") + f.name + " " + why, range);
    }
  }
  // (uid_t)-1 is "no change" to chown, never an owner; a range containing 0 would let root-owned
  // host files (a hardlink to /etc/shadow) through the owner check.
  if (lim.uidCount < 1 || lim.uidBase < 1 || lim.uidBase + lim.uidCount > 4294967295ull) {
    return Invalid(env, "ERR_OUT_OF_RANGE", "limits.uidBase/uidCount must give a non-empty range of uids within [1, 4294967294]", true);
  }
  if (lim.gidCount < 1 || lim.gidBase < 1 || lim.gidBase + lim.gidCount > 4294967295ull) {
    return Invalid(env, "ERR_OUT_OF_RANGE", "limits.gidBase/gidCount must give a non-empty range of gids within [1, 4294967294]", true);
  }

  // Our own duplicates: the caller may close or reuse its numbers while the seal runs.
  int dups[2] = {-1, -1};
  for (int i = 0; i < 2; i++) {
    dups[i] = fcntl(static_cast<int>(fds[i]), F_DUPFD_CLOEXEC, 3);
    if (dups[i] < 0) {
      int err = errno;
      if (i == 1) close(dups[0]);
      Napi::Error e = Napi::Error::New(env, std::string(strerrorname_np(err) ? strerrorname_np(err) : "EBADF") + ": " + fdNames[i] + " " +
                                                std::to_string(fds[i]) + ": " + ErrnoText(err));
      e.Value().Set("code", Napi::String::New(env, strerrorname_np(err) ? strerrorname_np(err) : "EBADF"));
      return Rejected(env, e.Value());
    }
  }

  auto* worker = new SealWorker(env, dups[0], dups[1], std::move(dstName), lim);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitSeal(Napi::Env env, Napi::Object exports) {
  exports.Set("sealTree", Napi::Function::New(env, SealTree, "sealTree"));
}

}  // namespace ward
