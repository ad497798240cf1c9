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
    fs.remove(tmp);
    return s;
  }
  f->reset();
  s = fs.rename(tmp, join_path(dir, name));
  if (!s.ok()) return s;
  return fs.sync_dir(dir);
}

}  // namespace paxlock::storage
