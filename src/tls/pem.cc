#include "tls/pem.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace paxlock::tls {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr memory_bio(const std::string& text) {
  BioPtr b(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  PAXLOCK_CHECK(b != nullptr);
  return b;
}

std::string bio_text(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status sys_error(int err, const std::string& what) {
  return Status::error(err, fmt::format("{}: {}", what, std::strerror(err)));
}

Status write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(errno, "writing " + path);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace

Result<std::string> read_small_file(const std::string& path, std::string_view what) {
  if (path.empty()) return Status::error(EINVAL, fmt::format("no {} given", what));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::error(err, fmt::format("{} {}: missing", what, path));
    return Status::error(err, fmt::format("{} {}: unreadable: {}", what, path, std::strerror(err)));
  }
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::error(err,
                           fmt::format("{} {}: unreadable: {}", what, path, std::strerror(err)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kPemFileBytesMax) {
      ::close(fd);
      return Status::error(EFBIG, fmt::format("{} {}: larger than {} bytes, not a PEM file", what,
                                              path, kPemFileBytesMax));
    }
  }
  ::close(fd);
  return out;
}

Result<std::vector<X509Ptr>> certificates_from_pem(const std::string& pem, const std::string& path,
                                                   std::string_view what) {
  std::vector<X509Ptr> out;
  BioPtr bio = memory_bio(pem);
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    out.emplace_back(c);
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end =
      ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (out.empty() || !clean_end) {
    const std::string detail = openssl_errors();
    if (out.empty())
      return Status::error(EINVAL,
                           fmt::format("{} {}: not a PEM certificate ({})", what, path, detail));
    return Status::error(EINVAL, fmt::format("{} {}: certificate {} is not valid PEM ({})", what,
                                             path, out.size() + 1, detail));
  }
  ERR_clear_error();
  return out;
}

Result<PkeyPtr> private_key_from_pem(const std::string& pem, const std::string& path) {
  BioPtr bio = memory_bio(pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr)
    return Status::error(EINVAL, fmt::format("key file {}: not a PEM private key (or one with a "
                                             "passphrase, which paxlock does not read) ({})",
                                             path, openssl_errors()));
  return key;
}

std::string certificate_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PAXLOCK_CHECK(bio != nullptr);
  PAXLOCK_CHECK(PEM_write_bio_X509(bio.get(), cert) == 1);
  return bio_text(bio.get());
}

std::string private_key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PAXLOCK_CHECK(bio != nullptr);
  PAXLOCK_CHECK(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) ==
                1);
  return bio_text(bio.get());
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Status write_file_atomically(const std::string& path, std::string_view bytes, mode_t mode,
                             bool overwrite) {
  if (!overwrite && file_exists(path))
    return Status::error(EEXIST, fmt::format("{} exists (--force replaces it)", path));
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return sys_error(errno, "creating " + tmp);
  Status s = write_all(fd, bytes, tmp);
  if (s.ok() && ::fchmod(fd, mode) != 0) s = sys_error(errno, "chmod " + tmp);  // despite umask
  if (s.ok() && ::fsync(fd) != 0) s = sys_error(errno, "syncing " + tmp);
  ::close(fd);
  if (s.ok()) {
    if (overwrite) {
      if (::rename(tmp.c_str(), path.c_str()) != 0) s = sys_error(errno, "renaming to " + path);
    } else if (::link(tmp.c_str(), path.c_str()) != 0) {
      s = errno == EEXIST
              ? Status::error(EEXIST, fmt::format("{} exists (--force replaces it)", path))
              : sys_error(errno, "linking " + path);
    }
  }
  ::unlink(tmp.c_str());  // after a rename, tmp no longer exists: harmless
  if (!s.ok()) return s;
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return sys_error(errno, "opening the directory of " + path);
  const bool synced = ::fsync(dir) == 0;
  const int err = errno;
  ::close(dir);
  if (!synced) return sys_error(err, "syncing the directory of " + path);
  return {};
}

}  // namespace paxlock::tls
