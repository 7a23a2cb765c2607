// The real system calls behind the platform layer's replaceable table.
#include "platform/syscalls.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace datatier::platform {
namespace {

// openat(2) and fcntl(2) are variadic and renameat2 may lack a libc prototype
// on older systems, so each gets a plain wrapper with a fixed signature.
int open_file_at(int dirfd, const char* path, int flags, mode_t mode) {
  return ::openat(dirfd, path, flags, mode);
}

int file_control(int fd, int cmd, int arg) {
  return ::fcntl(fd, cmd, arg);
}

int rename_at2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
               unsigned int flags) {
  return ::renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

// userfaultfd(2) has no libc wrapper in older C libraries.
int user_fault_fd(int flags) {
#ifdef SYS_userfaultfd
  return static_cast<int>(::syscall(SYS_userfaultfd, flags));
#else
  errno = ENOSYS;
  return -1;
#endif
}

// ioctl(2) is variadic: a wrapper with the one signature the table needs.
int io_control(int fd, unsigned long request, void* argument) {
  return ::ioctl(fd, request, argument);
}

// mbind(2) straight through syscall(2), as libnuma's mbind() does, so that
// the table is the same in a build without libnuma.
long memory_bind(void* addr, unsigned long length, int mode, const unsigned long* nodemask,
                 unsigned long maxnode, unsigned flags) {
  return ::syscall(SYS_mbind, addr, length, mode, nodemask, maxnode, flags);
}

// cachestat has no libc wrapper yet; these are its kernel structures, and its
// number is the same on every architecture.
#ifdef SYS_cachestat
constexpr long kSysCachestat = SYS_cachestat;
#else
constexpr long kSysCachestat = 451;
#endif

struct CachestatRange {
  std::uint64_t off;
  std::uint64_t len;
};

struct Cachestat {
  std::uint64_t nr_cache;
  std::uint64_t nr_dirty;
  std::uint64_t nr_writeback;
  std::uint64_t nr_evicted;
  std::uint64_t nr_recently_evicted;
};

int cache_stat(int fd, std::uint64_t offset, std::uint64_t length, PageCacheCounts* counts) {
  const CachestatRange range{offset, length};
  Cachestat stat{};
  if (::syscall(kSysCachestat, fd, &range, &stat, 0U) != 0) return -1;
  counts->cached = stat.nr_cache;
  counts->dirty = stat.nr_dirty;
  return 0;
}

constexpr Syscalls kReal = {
    .openat = open_file_at,
    .close = ::close,
    .pread = ::pread,
    .pwrite = ::pwrite,
    .fstat = ::fstat,
    .fstatat = ::fstatat,
    .fchmod = ::fchmod,
    .fchown = ::fchown,
    .fcntl = file_control,
    .ftruncate = ::ftruncate,
    .fallocate = ::fallocate,
    .fsync = ::fsync,
    .fdatasync = ::fdatasync,
    .sync_file_range = ::sync_file_range,
    .flock = ::flock,
    .renameat2 = rename_at2,
    .unlinkat = ::unlinkat,
    .mmap = ::mmap,
    .munmap = ::munmap,
    .msync = ::msync,
    .madvise = ::madvise,
    .mlock = ::mlock,
    .mbind = memory_bind,
    .cachestat = cache_stat,
    .memfd_create = ::memfd_create,
    .socket = ::socket,
    .bind = ::bind,
    .listen = ::listen,
    .accept4 = ::accept4,
    .connect = ::connect,
    .sendmsg = ::sendmsg,
    .recvmsg = ::recvmsg,
    .getsockopt = ::getsockopt,
    .poll = ::poll,
    .userfaultfd = user_fault_fd,
    .ioctl = io_control,
    .read = ::read,
    .pthread_create = ::pthread_create,
};

Syscalls table = kReal;

}  // namespace

Syscalls& syscalls() noexcept {
  return table;
}

const Syscalls& real_syscalls() noexcept {
  return kReal;
}

}  // namespace datatier::platform
