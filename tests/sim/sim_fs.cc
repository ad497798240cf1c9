#include "sim/sim_fs.h"

#include <algorithm>
#include <cerrno>

namespace paxlock::sim {

class SimFile : public storage::File {
 public:
  SimFile(SimFs& fs, std::shared_ptr<SimFs::Inode> inode, std::string path, bool writable)
      : fs_(fs), inode_(std::move(inode)), path_(std::move(path)), writable_(writable) {}

  Status pwrite(uint64_t offset, std::string_view data) override {
    if (!writable_) return Status::error(EBADF, "write " + path_ + ": read-only");
    if (fs_.io_error_) return Status::error(EIO, "write " + path_ + ": I/O error (simulated)");
    const uint64_t end = offset + data.size();
    if (end > inode_->view.size()) {
      if (!fs_.grow_ok(*inode_, end)) {
        return Status::error(ENOSPC, "write " + path_ + ": no space left (simulated)");
      }
      inode_->view.resize(end, '\0');
    }
    inode_->view.replace(offset, data.size(), data);
    for (uint64_t s = offset / SimFs::kSector; s * SimFs::kSector < end; ++s) {
      inode_->dirty.insert(s);
    }
    return {};
  }

  Status pread(uint64_t offset, size_t n, std::string& out) override {
    if (fs_.io_error_) return Status::error(EIO, "read " + path_ + ": I/O error (simulated)");
    if (offset >= inode_->view.size()) {
      out.clear();
      return {};
    }
    out = inode_->view.substr(offset, n);
    if (!out.empty() && fs_.read_flip_rate_ > 0 && fs_.rng_.chance(fs_.read_flip_rate_)) {
      const auto bit = static_cast<uint64_t>(fs_.rng_.uniform(0, out.size() * 8 - 1));
      out[bit / 8] = static_cast<char>(out[bit / 8] ^ (1 << (bit % 8)));
      ++fs_.read_flips_;
    }
    return {};
  }

  Status datasync() override {
    if (fs_.io_error_) return Status::error(EIO, "fdatasync " + path_ + ": I/O error (simulated)");
    if (fs_.fail_datasyncs_ > 0) {
      --fs_.fail_datasyncs_;
      return Status::error(EIO, "fdatasync " + path_ + ": I/O error (simulated)");
    }
    Inode& in = *inode_;
    if (in.durable.size() != in.view.size()) in.durable.resize(in.view.size(), '\0');
    for (uint64_t s : in.dirty) {
      const uint64_t begin = s * SimFs::kSector;
      if (begin >= in.view.size()) continue;
      const uint64_t len = std::min<uint64_t>(SimFs::kSector, in.view.size() - begin);
      in.durable.replace(begin, len, in.view, begin, len);
    }
    in.dirty.clear();
    return {};
  }

  Status allocate(uint64_t len) override {
    if (len <= inode_->view.size()) return {};
    if (!fs_.grow_ok(*inode_, len)) {
      return Status::error(ENOSPC, "fallocate " + path_ + ": no space left (simulated)");
    }
    // Preallocation extends the file with zeros; its size is durable at the
    // next datasync, like any other size change.
    const uint64_t old = inode_->view.size();
    inode_->view.resize(len, '\0');
    for (uint64_t s = old / SimFs::kSector; s * SimFs::kSector < len; ++s)
      inode_->dirty.insert(s);
    return {};
  }

  Status truncate(uint64_t len) override {
    inode_->view.resize(len, '\0');
    inode_->dirty.insert(len / SimFs::kSector);
    return {};
  }

  Result<uint64_t> size() override { return static_cast<uint64_t>(inode_->view.size()); }

 private:
  using Inode = SimFs::Inode;
  SimFs& fs_;
  std::shared_ptr<Inode> inode_;
  std::string path_;
  bool writable_;
};

std::string SimFs::dir_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

uint64_t SimFs::used_bytes() const {
  uint64_t used = 0;
  for (const auto& [name, inode] : names_)
    used += inode->view.size();
  return used;
}

bool SimFs::grow_ok(const Inode& inode, uint64_t new_size) const {
  return used_bytes() - inode.view.size() + new_size <= capacity_;
}

Result<std::unique_ptr<storage::File>> SimFs::open(const std::string& path,
                                                   storage::OpenMode mode) {
  auto it = names_.find(path);
  if (mode == storage::OpenMode::kCreate) {
    if (it != names_.end()) return Status::error(EEXIST, "open " + path + ": exists");
    if (!dirs_.count(dir_of(path))) return Status::error(ENOENT, "open " + path + ": no directory");
    if (io_error_) return Status::error(EIO, "open " + path + ": I/O error (simulated)");
    auto inode = std::make_shared<Inode>();
    names_[path] = inode;
    pending_.push_back(NsOp{NsOp::kCreate, path, "", inode});
    return std::unique_ptr<storage::File>(std::make_unique<SimFile>(*this, inode, path, true));
  }
  if (it == names_.end()) return Status::error(ENOENT, "open " + path + ": no such file");
  return std::unique_ptr<storage::File>(
      std::make_unique<SimFile>(*this, it->second, path, mode == storage::OpenMode::kWrite));
}

Status SimFs::rename(const std::string& from, const std::string& to) {
  auto it = names_.find(from);
  if (it == names_.end()) return Status::error(ENOENT, "rename " + from + ": no such file");
  auto inode = it->second;
  names_.erase(it);
  names_[to] = inode;
  pending_.push_back(NsOp{NsOp::kRename, from, to, inode});
  return {};
}

Status SimFs::remove(const std::string& path) {
  if (names_.erase(path) == 0) return Status::error(ENOENT, "unlink " + path + ": no such file");
  pending_.push_back(NsOp{NsOp::kRemove, path, "", nullptr});
  return {};
}

void SimFs::apply(std::map<std::string, std::shared_ptr<Inode>>& names, const NsOp& op) {
  switch (op.kind) {
    case NsOp::kCreate:
      names[op.path] = op.inode;
      break;
    case NsOp::kRename: {
      auto it = names.find(op.path);
      if (it != names.end()) names.erase(it);
      names[op.to] = op.inode;
      break;
    }
    case NsOp::kRemove:
      names.erase(op.path);
      break;
  }
}

Status SimFs::sync_dir(const std::string& path) {
  if (io_error_) return Status::error(EIO, "fsync " + path + ": I/O error (simulated)");
  const std::string dir = path == "/" || path == "." ? "" : path;  // the root
  if (!dir.empty() && !dirs_.count(dir)) {
    return Status::error(ENOENT, "fsync " + path + ": no such directory");
  }
  // The entries of new subdirectories become durable.
  for (const std::string& d : dirs_) {
    if (dir_of(d) == dir) durable_dirs_.insert(d);
  }
  // Directory operations reach the journal in order: make durable every
  // pending operation up to the last one that touches this directory.
  size_t last = 0;
  for (size_t i = 0; i < pending_.size(); ++i) {
    const NsOp& op = pending_[i];
    if (dir_of(op.path) == dir || (!op.to.empty() && dir_of(op.to) == dir)) last = i + 1;
  }
  for (size_t i = 0; i < last; ++i)
    apply(durable_names_, pending_[i]);
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(last));
  return {};
}

Status SimFs::mkdirs(const std::string& dir) {
  // A new directory is durable once its parent is synced (sync_dir).
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    const std::string d = dir.substr(0, pos);
    if (!d.empty()) dirs_.insert(d);
  }
  return {};
}

Result<std::vector<std::string>> SimFs::list(const std::string& dir) {
  if (!dirs_.count(dir)) return Status::error(ENOENT, "list " + dir + ": no such directory");
  std::vector<std::string> out;
  for (const auto& [path, inode] : names_) {
    if (dir_of(path) == dir) out.push_back(path.substr(dir.size() + 1));
  }
  return out;
}

bool SimFs::exists(const std::string& path) {
  return names_.count(path) || dirs_.count(path);
}

void SimFs::drop_unsynced_dirs() {
  // Directories whose entry (or an ancestor's) was never synced are gone,
  // with everything in them. (Sorted: a parent comes before its children.)
  std::set<std::string> kept;
  for (const std::string& d : durable_dirs_) {
    if (dir_of(d).empty() || kept.count(dir_of(d))) kept.insert(d);
  }
  dirs_ = durable_dirs_ = kept;
  std::erase_if(durable_names_, [&](const auto& entry) {
    const std::string d = dir_of(entry.first);
    return !d.empty() && !kept.count(d);
  });
}

void SimFs::crash(paxlock::Rng& rng) {
  // A random prefix of the unsynced directory operations reached the journal.
  const auto keep_ops = static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(pending_.size())));
  for (size_t i = 0; i < keep_ops; ++i)
    apply(durable_names_, pending_[i]);
  pending_.clear();
  drop_unsynced_dirs();
  names_ = durable_names_;
  std::set<Inode*> seen;
  for (auto& [path, inode] : names_) {
    if (!seen.insert(inode.get()).second) continue;
    Inode& in = *inode;
    uint64_t size = in.durable.size();
    std::string next = in.durable;
    for (uint64_t s : in.dirty) {
      const uint64_t begin = s * kSector;
      if (begin >= in.view.size()) continue;
      const uint64_t len = std::min<uint64_t>(kSector, in.view.size() - begin);
      const int64_t fate = rng.uniform(0, 3);  // keep, drop, torn, garbage
      if (fate == 1) continue;
      if (begin + len > next.size()) next.resize(begin + len, '\0');
      if (fate == 0) {
        next.replace(begin, len, in.view, begin, len);
      } else if (fate == 2) {
        const auto part = static_cast<uint64_t>(rng.uniform(1, static_cast<int64_t>(len)));
        next.replace(begin, part, in.view, begin, part);
      } else {
        for (uint64_t b = 0; b < len; ++b)
          next[begin + b] = static_cast<char>(rng.next());
      }
      size = std::max(size, begin + len);
    }
    next.resize(size, '\0');
    in.view = in.durable = next;
    in.dirty.clear();
  }
}

void SimFs::crash_drop_unsynced() {
  pending_.clear();
  drop_unsynced_dirs();
  names_ = durable_names_;
  for (auto& [path, inode] : names_) {
    inode->view = inode->durable;
    inode->dirty.clear();
  }
}

std::unique_ptr<SimFs> SimFs::clone() const {
  auto copy = std::make_unique<SimFs>(0);
  copy->rng_ = rng_;
  // One new inode per old one, so that names sharing an inode still do.
  std::map<const Inode*, std::shared_ptr<Inode>> inodes;
  auto dup = [&](const std::shared_ptr<Inode>& in) -> std::shared_ptr<Inode> {
    if (!in) return nullptr;
    auto& out = inodes[in.get()];
    if (!out) out = std::make_shared<Inode>(*in);
    return out;
  };
  for (const auto& [path, inode] : names_)
    copy->names_[path] = dup(inode);
  for (const auto& [path, inode] : durable_names_)
    copy->durable_names_[path] = dup(inode);
  for (const NsOp& op : pending_)
    copy->pending_.push_back(NsOp{op.kind, op.path, op.to, dup(op.inode)});
  copy->dirs_ = dirs_;
  copy->durable_dirs_ = durable_dirs_;
  copy->fail_datasyncs_ = fail_datasyncs_;
  copy->capacity_ = capacity_;
  copy->read_flip_rate_ = read_flip_rate_;
  copy->io_error_ = io_error_;
  copy->read_flips_ = read_flips_;
  return copy;
}

void SimFs::corrupt(const std::string& path, uint64_t offset, uint8_t xor_mask) {
  auto it = names_.find(path);
  if (it == names_.end()) return;
  Inode& in = *it->second;
  if (offset < in.view.size()) in.view[offset] = static_cast<char>(in.view[offset] ^ xor_mask);
  if (offset < in.durable.size()) {
    in.durable[offset] = static_cast<char>(in.durable[offset] ^ xor_mask);
  }
}

uint64_t SimFs::file_size(const std::string& path) const {
  auto it = names_.find(path);
  return it == names_.end() ? 0 : it->second->view.size();
}

}  // namespace paxlock::sim
