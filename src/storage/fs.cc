#include "storage/fs.h"

namespace paxlock::storage {

Result<std::string> read_file(Fs& fs, const std::string& path) {
  auto f = fs.open(path, OpenMode::kRead);
  if (!f.ok()) return f.status();
  auto size = (*f)->size();
  if (!size.ok()) return size.status();
  std::string out;
  Status s = (*f)->pread(0, *size, out);
  if (!s.ok()) return s;
  if (out.size() != *size) return Status::error(EIO, "short read of " + path);
  return out;
}

std::string parent_dir(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/')
    p.pop_back();
  const size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

Status create_dirs(Fs& fs, const std::string& dir) {
  std::vector<std::string> missing;  // deepest first
  for (std::string p = dir; p != "/" && p != "." && !p.empty() && !fs.exists(p);
       p = parent_dir(p)) {
    missing.push_back(p);
  }
  if (missing.empty()) return {};
  Status s = fs.mkdirs(dir);
  if (!s.ok()) return s;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    s = fs.sync_dir(parent_dir(*it));
    if (!s.ok()) return s;
  }
  return {};
}

Status write_file_atomic(Fs& fs, const std::string& dir, const std::string& name,
                         std::string_view data) {
  const std::string tmp = join_path(dir, name + ".tmp");
  if (fs.exists(tmp)) {
    Status s = fs.remove(tmp);
    if (!s.ok()) return s;
  }
  auto f = fs.open(tmp, OpenMode::kCreate);
  if (!f.ok()) return f.status();
  Status s = (*f)->pwrite(0, data);
  if (s.ok()) s = (*f)->datasync();
  if (!s.ok()) {
    // Best effort: the write's error is the one to report, and the next call
    // removes a leftover temporary file before it starts.
    (void)fs.remove(tmp);
    return s;
  }
  f->reset();
  s = fs.rename(tmp, join_path(dir, name));
  if (!s.ok()) return s;
  return fs.sync_dir(dir);
}

}  // namespace paxlock::storage
