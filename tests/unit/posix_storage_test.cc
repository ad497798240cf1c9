// The storage stack on the real file system: a WAL round trip through POSIX
// calls, the data-directory lock, and ENOSPC on a small tmpfs (root only).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "storage/node_storage.h"
#include "storage/posix_fs.h"

namespace paxlock::storage {
namespace {

namespace stdfs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (stdfs::temp_directory_path() / "paxlock-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { stdfs::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

WriteBatch record(paxos::Instance i, size_t bytes) {
  WriteBatch w;
  auto b = std::make_shared<paxos::Batch>();
  b->commands.push_back(paxos::Command{paxos::CommandId{1, i}, std::string(bytes, 'r')});
  w.entries.push_back(paxos::Entry{i, paxos::Ballot{1, 1}, b, false});
  return w;
}

TEST(PosixStorage, LogSurvivesReopenOnRealFiles) {
  TempDir dir;
  PosixFs fs;
  {
    Loaded loaded;
    auto st = NodeStorage::open(fs, dir.path(), "c", 1, WalOptions{1 << 20, true}, &loaded);
    ASSERT_TRUE(st.ok()) << st.status().message();
    for (paxos::Instance i = 1; i <= 50; ++i)
      ASSERT_TRUE((*st)->append(record(i, 100)).ok());
    ASSERT_TRUE((*st)->sync().ok());
    ASSERT_TRUE((*st)->save_snapshot(Snapshot{20, std::make_shared<const std::string>("s")}).ok());
  }
  Loaded loaded;
  auto st = NodeStorage::open(fs, dir.path(), "c", 1, WalOptions{1 << 20, true}, &loaded);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(loaded.log.entries.size(), 31u);  // 20..50
  EXPECT_EQ(loaded.log.log_start, 20u);
}

TEST(PosixStorage, SecondProcessOnTheSameDataDirectoryIsRefused) {
  TempDir dir;
  auto first = DirectoryLock::acquire(dir.path());
  ASSERT_TRUE(first.ok()) << first.status().message();
  // flock locks belong to open file descriptions: a second open in this
  // process conflicts just as another process would.
  auto second = DirectoryLock::acquire(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use by another paxlockd"), std::string::npos)
      << second.status().message();
  first->reset();
  EXPECT_TRUE(DirectoryLock::acquire(dir.path()).ok());
}

TEST(PosixStorage, NoSpaceOnTmpfsRefusesWritesAndRecoversWhenSpaceIsBack) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a size-limited tmpfs";
  TempDir dir;
  const std::string mnt = dir.path() + "/mnt";
  stdfs::create_directory(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount tmpfs here: " << std::strerror(errno);
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  PosixFs fs;
  const WalOptions opt{64 << 10, true};  // 64 KiB segments
  Loaded loaded;
  auto st = NodeStorage::open(fs, mnt + "/node", "c", 1, opt, &loaded);
  ASSERT_TRUE(st.ok()) << st.status().message();
  // Fill the file system almost completely with something else.
  const std::string filler = mnt + "/filler";
  {
    auto f = fs.open(filler, OpenMode::kCreate);
    ASSERT_TRUE(f.ok());
    std::string chunk(4096, 'f');
    uint64_t off = 0;
    while ((*f)->pwrite(off, chunk).ok())
      off += chunk.size();
  }
  Status s;
  paxos::Instance acked = 0;
  for (paxos::Instance i = 1; i <= 2000; ++i) {
    s = (*st)->append(record(i, 200));
    if (s.ok()) s = (*st)->sync();
    if (!s.ok()) break;
    acked = i;
  }
  ASSERT_FALSE(s.ok()) << "the disk never filled up";
  EXPECT_EQ(s.code(), ENOSPC) << s.message();
  // Space comes back; the failed record goes in on retry.
  ASSERT_TRUE(fs.remove(filler).ok());
  ASSERT_TRUE((*st)->append(record(acked + 1, 200)).ok());
  ASSERT_TRUE((*st)->sync().ok());
  st->reset();
  // Nothing that was synced is lost or corrupted.
  auto again = NodeStorage::open(fs, mnt + "/node", "c", 1, opt, &loaded);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(loaded.log.entries.size(), acked + 1);
}

}  // namespace
}  // namespace paxlock::storage
