// The table of system calls the platform layer makes, replaceable by tests.
//
// Every file-system, memory-mapping, socket and thread-starting call datatier makes
// goes through this table, so a test can make any one of them fail (ENOSPC,
// EIO, EINTR, a short transfer, a refused thread) at any position in a pool
// operation and check what follows.
// Production code never changes it.
#pragma once

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace datatier::platform {

// Pages of a file range in the page cache, as cachestat(2) counts them.
struct PageCacheCounts {
  std::uint64_t cached = 0;
  std::uint64_t dirty = 0;  // written but not yet (being) written back
};

struct Syscalls {
  // openat(2); `dirfd` is a directory descriptor or AT_FDCWD.
  int (*openat)(int dirfd, const char* path, int flags, mode_t mode);
  int (*close)(int fd);
  ssize_t (*pread)(int fd, void* buf, std::size_t count, off_t offset);
  ssize_t (*pwrite)(int fd, const void* buf, std::size_t count, off_t offset);
  int (*fstat)(int fd, struct stat* st);
  int (*fstatat)(int dirfd, const char* path, struct stat* st, int flags);
  int (*fchmod)(int fd, mode_t mode);
  int (*fchown)(int fd, uid_t owner, gid_t group);
  int (*fcntl)(int fd, int cmd, int arg);  // the commands that take an int
  int (*ftruncate)(int fd, off_t length);
  int (*fallocate)(int fd, int mode, off_t offset, off_t length);
  int (*fsync)(int fd);
  int (*fdatasync)(int fd);
  int (*sync_file_range)(int fd, off_t offset, off_t length, unsigned int flags);
  int (*flock)(int fd, int operation);
  int (*renameat2)(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                   unsigned int flags);
  int (*unlinkat)(int dirfd, const char* path, int flags);
  void* (*mmap)(void* addr, std::size_t length, int prot, int flags, int fd, off_t offset);
  int (*munmap)(void* addr, std::size_t length);
  int (*msync)(void* addr, std::size_t length, int flags);
  int (*madvise)(void* addr, std::size_t length, int advice);
  int (*mlock)(const void* addr, std::size_t length);
  long (*mbind)(void* addr, unsigned long length, int mode, const unsigned long* nodemask,
                unsigned long maxnode, unsigned flags);
  // cachestat(2) (Linux 6.5): counts the pages of bytes [offset, offset +
  // length) of `fd` in the page cache, and those of them dirty. Fails with
  // ENOSYS on older kernels.
  int (*cachestat)(int fd, std::uint64_t offset, std::uint64_t length, PageCacheCounts* counts);
  // memfd_create(2): a memory file, for pools whose memory another process
  // may take over (MemoryOptions::shareable).
  int (*memfd_create)(const char* name, unsigned int flags);
  // Unix sockets, for handing a pool to its successor.
  int (*socket)(int domain, int type, int protocol);
  int (*bind)(int fd, const struct sockaddr* address, socklen_t length);
  int (*listen)(int fd, int backlog);
  int (*accept4)(int fd, struct sockaddr* address, socklen_t* length, int flags);
  int (*connect)(int fd, const struct sockaddr* address, socklen_t length);
  ssize_t (*sendmsg)(int fd, const struct msghdr* message, int flags);
  ssize_t (*recvmsg)(int fd, struct msghdr* message, int flags);
  int (*getsockopt)(int fd, int level, int name, void* value, socklen_t* length);
  int (*poll)(struct pollfd* fds, nfds_t count, int timeout_ms);
  // userfaultfd(2): a descriptor that hands this process's page faults on
  // registered memory to a thread of its own, for loading a pool lazily.
  // `flags` as the system call takes them. Fails with ENOSYS where the
  // kernel has no such call, EPERM where this process may not use it.
  int (*userfaultfd)(int flags);
  // ioctl(2) with a pointer argument: the userfaultfd requests.
  int (*ioctl)(int fd, unsigned long request, void* argument);
  // read(2): a userfaultfd's fault messages.
  ssize_t (*read)(int fd, void* buffer, std::size_t count);
  // pthread_create(3): returns an error number (EAGAIN: no thread now)
  // instead of setting errno.
  int (*pthread_create)(pthread_t* thread, const pthread_attr_t* attributes,
                        void* (*start)(void*), void* argument);
};

// The table in force. Starts out as the real system calls.
Syscalls& syscalls() noexcept;

// The real system calls, for restoring the table after a test.
const Syscalls& real_syscalls() noexcept;

}  // namespace datatier::platform
