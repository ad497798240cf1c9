#include "storage/posix_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace paxlock::storage {
namespace {

Status errno_status(const std::string& what, const std::string& path) {
  const int e = errno;
  return Status::error(e, what + " " + path + ": " + std::strerror(e));
}

class PosixFile : public File {
 public:
  PosixFile(int fd, std::string path, std::shared_ptr<std::atomic<int64_t>> fail_after)
      : fd_(fd), path_(std::move(path)), fail_after_(std::move(fail_after)) {}
  ~PosixFile() override { ::close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  Status pwrite(uint64_t offset, std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status("write", path_);
      }
      done += static_cast<size_t>(n);
    }
    return {};
  }

  Status pread(uint64_t offset, size_t n, std::string& out) override {
    out.resize(n);
    size_t done = 0;
    while (done < n) {
      const ssize_t r =
          ::pread(fd_, out.data() + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno_status("read", path_);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    out.resize(done);
    return {};
  }

  Status datasync() override {
    if (fail_after_->load() >= 0 && fail_after_->fetch_sub(1) == 0) {
      return Status::error(EIO, "fdatasync " + path_ +
                                    ": Input/output error (injected by "
                                    "--fail-fsync-after)");
    }
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return errno_status("fdatasync", path_);
    }
    return {};
  }

  Status allocate(uint64_t len) override {
    const int r = ::posix_fallocate(fd_, 0, static_cast<off_t>(len));
    if (r != 0) {
      errno = r;
      return errno_status("fallocate", path_);
    }
    return {};
  }

  Status truncate(uint64_t len) override {
    if (::ftruncate(fd_, static_cast<off_t>(len)) != 0) return errno_status("truncate", path_);
    return {};
  }

  Result<uint64_t> size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return errno_status("stat", path_);
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  int fd_;
  std::string path_;
  std::shared_ptr<std::atomic<int64_t>> fail_after_;
};

}  // namespace

Result<std::unique_ptr<File>> PosixFs::open(const std::string& path, OpenMode mode) {
  int flags = O_CLOEXEC;
  switch (mode) {
    case OpenMode::kRead:
      flags |= O_RDONLY;
      break;
    case OpenMode::kWrite:
      flags |= O_RDWR;
      break;
    case OpenMode::kCreate:
      flags |= O_RDWR | O_CREAT | O_EXCL;
      break;
  }
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return errno_status("open", path);
  return std::unique_ptr<File>(std::make_unique<PosixFile>(fd, path, fail_after_));
}

Status PosixFs::rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return errno_status("rename", from + " -> " + to);
  return {};
}

Status PosixFs::remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return errno_status("unlink", path);
  return {};
}

Status PosixFs::sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status("open directory", dir);
  Status s;
  while (::fsync(fd) != 0) {
    if (errno != EINTR) {
      s = errno_status("fsync directory", dir);
      break;
    }
  }
  ::close(fd);
  return s;
}

Status PosixFs::mkdirs(const std::string& dir) {
  std::string path;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    path = dir.substr(0, pos);
    if (path.empty()) continue;
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return errno_status("mkdir", path);
  }
  return {};
}

Result<std::vector<std::string>> PosixFs::list(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno_status("list", dir);
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool PosixFs::exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Result<std::unique_ptr<DirectoryLock>> DirectoryLock::acquire(const std::string& dir) {
  const std::string path = join_path(dir, "LOCK");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status("open", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) {
      return Status::error(
          e, "data directory " + dir + " is in use by another paxlockd (flock on " + path + ")");
    }
    errno = e;
    return errno_status("flock", path);
  }
  return std::unique_ptr<DirectoryLock>(new DirectoryLock(fd));
}

DirectoryLock::~DirectoryLock() {
  ::close(fd_);
}

}  // namespace paxlock::storage
