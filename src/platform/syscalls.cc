// The real system calls behind the platform layer's replaceable table.
#include "platform/syscalls.h"

#include <fcntl.h>
#include <numaif.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>

namespace datatier::platform {
namespace {

// open(2) and fcntl(2) are variadic and renameat2 may lack a libc prototype
// on older systems, so each gets a plain wrapper with a fixed signature.
int open_file(const char* path, int flags, mode_t mode) {
  return ::open(path, flags, mode);
}

int file_control(int fd, int cmd, int arg) {
  return ::fcntl(fd, cmd, arg);
}

int rename_at2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
               unsigned int flags) {
  return ::renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

constexpr Syscalls kReal = {
    .open = open_file,
    .close = ::close,
    .pread = ::pread,
    .pwrite = ::pwrite,
    .fstat = ::fstat,
    .fcntl = file_control,
    .ftruncate = ::ftruncate,
    .fallocate = ::fallocate,
    .fsync = ::fsync,
    .fdatasync = ::fdatasync,
    .flock = ::flock,
    .renameat2 = rename_at2,
    .unlink = ::unlink,
    .mmap = ::mmap,
    .munmap = ::munmap,
    .msync = ::msync,
    .madvise = ::madvise,
    .mlock = ::mlock,
    .mbind = ::mbind,
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
