#!/usr/bin/env python3
"""crashfs: a FUSE filesystem that forgets everything not made durable, for
tests/power_loss.rs.

    crashfs.py BACKING MOUNTPOINT

The whole tree lives in this process's memory. BACKING holds only what a disk is
guaranteed to keep after a power loss, by the POSIX rules a careful program relies on:

- a file's bytes (and length) reach BACKING when the file is fsynced or fdatasynced, or
  written through a descriptor opened with O_SYNC/O_DSYNC (LMDB's meta page);
- a directory entry (a create, link, unlink, rename, mkdir) reaches BACKING when its
  directory is fsynced; a file that gets a durable name before its bytes were synced
  arrives empty, as on a real disk.

Killing this process (SIGKILL) is the power loss: BACKING is then the disk after the
crash. kill -9 of the server alone cannot test this, because the kernel's page cache
survives the process and writes everything back later; an in-process write log cannot
either, because LMDB writes from C and the spool is written through io_uring, neither
of which passes through code we could wrap. FUSE sees every write, fsync and directory
change at the VFS layer, whoever makes it.

Durable-state bookkeeping: each in-memory inode knows the BACKING paths that are its
durable names (hard links there share one BACKING inode), the bytes last synced, and
for a directory the entries last synced (materialized when the directory itself gets a
durable name).
"""

import errno
import os
import shutil
import stat
import sys
import threading
import time

import mfusepy as fuse


class Inode:
    """A file or directory of the in-memory tree."""

    def __init__(self, mode):
        self.mode = mode
        self.data = bytearray()  # files: current bytes
        self.synced = bytearray()  # files: bytes as of the last sync
        self.dirty = []  # files: (start, end) written since the last sync
        self.entries = {}  # directories: name -> Inode, current
        self.synced_entries = {}  # directories: as of the last fsync
        self.backing = []  # durable names (BACKING paths)
        self.nlink = 0
        now = time.time_ns()
        self.times = (now, now)

    def is_dir(self):
        return stat.S_ISDIR(self.mode)


class CrashFS(fuse.Operations):
    use_ns = True

    def __init__(self, backing):
        self.backing = os.path.realpath(backing)
        self.mutex = threading.Lock()
        self.handles = {}  # fh -> (inode, synchronous)
        self.next_handle = 1
        self.by_backing = {}  # BACKING path -> Inode
        self.root = self.load(self.backing, {})
        self.root.nlink = 2

    # --- loading BACKING at mount -------------------------------------------------

    def load(self, path, seen):
        info = os.lstat(path)
        if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
            # A socket left by a killed server (the control socket) holds no data; the
            # server makes a new one at start.
            return None
        key = (info.st_dev, info.st_ino)
        if key in seen and not stat.S_ISDIR(info.st_mode):
            inode = seen[key]
        else:
            inode = Inode(info.st_mode)
            seen[key] = inode
            if stat.S_ISDIR(info.st_mode):
                for name in os.listdir(path):
                    child = self.load(os.path.join(path, name), seen)
                    if child is None:
                        continue
                    inode.entries[name] = child
                    child.nlink += 1
                inode.synced_entries = dict(inode.entries)
            else:
                with open(path, "rb") as file:
                    inode.data = bytearray(file.read())
                inode.synced = bytearray(inode.data)
        inode.backing.append(path)
        self.by_backing[path] = inode
        return inode

    # --- lookup ---------------------------------------------------------------------

    def resolve(self, path):
        inode = self.root
        for part in [p for p in path.split("/") if p]:
            if not inode.is_dir() or part not in inode.entries:
                raise fuse.FuseOSError(errno.ENOENT)
            inode = inode.entries[part]
        return inode

    def parent(self, path):
        head, name = os.path.split(path.rstrip("/"))
        directory = self.resolve(head or "/")
        if not directory.is_dir():
            raise fuse.FuseOSError(errno.ENOTDIR)
        return directory, name

    def inode_of(self, path, fh):
        if fh and fh in self.handles:
            return self.handles[fh][0]
        return self.resolve(path)

    # --- durability -----------------------------------------------------------------

    def sync_file(self, inode, ranges=None):
        """Makes the given ranges (default: all written since the last sync) and the
        length durable."""
        if ranges is None:
            ranges, inode.dirty = inode.dirty, []
        length = len(inode.data)
        del inode.synced[length:]
        inode.synced.extend(b"\0" * (length - len(inode.synced)))
        for start, end in ranges:
            end = min(end, length)
            if start < end:
                inode.synced[start:end] = inode.data[start:end]
        if inode.backing:
            with open(inode.backing[0], "r+b") as file:
                for start, end in ranges:
                    end = min(end, length)
                    if start < end:
                        file.seek(start)
                        file.write(inode.data[start:end])
                file.truncate(length)

    def sync_dir(self, directory):
        directory.synced_entries = dict(directory.entries)
        if not directory.backing:
            return  # materialized with these entries once it gets a durable name
        base = directory.backing[0]
        for name in os.listdir(base):
            path = os.path.join(base, name)
            if self.by_backing.get(path) is not directory.entries.get(name):
                self.forget(path)
        for name, child in directory.entries.items():
            path = os.path.join(base, name)
            if not os.path.lexists(path):
                self.materialize(child, path)

    def forget(self, path):
        inode = self.by_backing.pop(path, None)
        if inode is not None and path in inode.backing:
            inode.backing.remove(path)
        if os.path.isdir(path) and not os.path.islink(path):
            for name in os.listdir(path):
                self.forget(os.path.join(path, name))
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)

    def materialize(self, inode, path):
        if inode.is_dir():
            os.mkdir(path, 0o700)
            inode.backing.append(path)
            self.by_backing[path] = inode
            for name, child in inode.synced_entries.items():
                self.materialize(child, os.path.join(path, name))
            return
        if inode.backing:
            os.link(inode.backing[0], path)
        else:
            with open(path, "wb") as file:
                file.write(inode.synced)
        inode.backing.append(path)
        self.by_backing[path] = inode

    # --- operations -----------------------------------------------------------------

    def getattr(self, path, fh=None):
        with self.mutex:
            inode = self.inode_of(path, fh)
            return {
                "st_mode": inode.mode,
                "st_nlink": max(inode.nlink, 1),
                "st_size": len(inode.data) if not inode.is_dir() else 4096,
                "st_uid": os.getuid(),
                "st_gid": os.getgid(),
                "st_atime": inode.times[0],
                "st_mtime": inode.times[1],
                "st_ctime": inode.times[1],
            }

    def readdir(self, path, fh):
        with self.mutex:
            return [".", ".."] + list(self.resolve(path).entries)

    def statfs(self, path):
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 20, "f_bfree": 1 << 19,
                "f_bavail": 1 << 19, "f_files": 1 << 20, "f_ffree": 1 << 19, "f_namemax": 255}

    def add(self, path, inode):
        directory, name = self.parent(path)
        if name in directory.entries:
            raise fuse.FuseOSError(errno.EEXIST)
        directory.entries[name] = inode
        inode.nlink += 1
        directory.times = (directory.times[0], time.time_ns())

    def handle(self, inode, flags):
        fh = self.next_handle
        self.next_handle += 1
        synchronous = bool(flags & (os.O_SYNC | os.O_DSYNC))
        self.handles[fh] = (inode, synchronous)
        return fh

    def mkdir(self, path, mode):
        with self.mutex:
            inode = Inode(stat.S_IFDIR | (mode & 0o7777))
            inode.nlink = 1
            self.add(path, inode)
            return 0

    def create(self, path, mode, flags=0):
        with self.mutex:
            inode = Inode(stat.S_IFREG | (mode & 0o7777))
            self.add(path, inode)
            return self.handle(inode, flags)

    def open(self, path, flags):
        with self.mutex:
            inode = self.resolve(path)
            if flags & os.O_TRUNC:
                del inode.data[:]
            return self.handle(inode, flags)

    def opendir(self, path):
        with self.mutex:
            return self.handle(self.resolve(path), 0)

    def release(self, path, fh):
        with self.mutex:
            self.handles.pop(fh, None)
            return 0

    releasedir = release

    def read(self, path, size, offset, fh):
        with self.mutex:
            return bytes(self.inode_of(path, fh).data[offset:offset + size])

    def write(self, path, data, offset, fh):
        with self.mutex:
            inode, synchronous = self.handles.get(fh) or (self.resolve(path), False)
            end = offset + len(data)
            if len(inode.data) < offset:
                inode.data.extend(b"\0" * (offset - len(inode.data)))
            inode.data[offset:end] = data
            inode.times = (inode.times[0], time.time_ns())
            if synchronous:
                self.sync_file(inode, [(offset, end)])
            else:
                inode.dirty.append((offset, end))
            return len(data)

    def truncate(self, path, length, fh=None):
        with self.mutex:
            inode = self.inode_of(path, fh)
            if length < len(inode.data):
                del inode.data[length:]
            else:
                inode.data.extend(b"\0" * (length - len(inode.data)))
            return 0

    def fsync(self, path, datasync, fh):
        with self.mutex:
            self.sync_file(self.inode_of(path, fh))
            return 0

    def fsyncdir(self, path, datasync, fh):
        with self.mutex:
            self.sync_dir(self.inode_of(path, fh))
            return 0

    def flush(self, path, fh):
        return 0

    def link(self, target, source):
        with self.mutex:
            inode = self.resolve(source)
            if inode.is_dir():
                raise fuse.FuseOSError(errno.EPERM)
            self.add(target, inode)
            return 0

    def unlink(self, path):
        with self.mutex:
            directory, name = self.parent(path)
            inode = directory.entries.pop(name, None)
            if inode is None:
                raise fuse.FuseOSError(errno.ENOENT)
            inode.nlink -= 1
            return 0

    def rmdir(self, path):
        with self.mutex:
            directory, name = self.parent(path)
            inode = directory.entries.get(name)
            if inode is None:
                raise fuse.FuseOSError(errno.ENOENT)
            if inode.entries:
                raise fuse.FuseOSError(errno.ENOTEMPTY)
            del directory.entries[name]
            return 0

    def rename(self, old, new):
        with self.mutex:
            source_dir, source_name = self.parent(old)
            target_dir, target_name = self.parent(new)
            inode = source_dir.entries.get(source_name)
            if inode is None:
                raise fuse.FuseOSError(errno.ENOENT)
            replaced = target_dir.entries.get(target_name)
            if replaced is not None and replaced is not inode:
                replaced.nlink -= 1
            del source_dir.entries[source_name]
            target_dir.entries[target_name] = inode
            return 0

    def chmod(self, path, mode):
        with self.mutex:
            inode = self.resolve(path)
            inode.mode = (inode.mode & ~0o7777) | (mode & 0o7777)
            return 0

    def chown(self, path, uid, gid):
        return 0

    def utimens(self, path, times=None):
        with self.mutex:
            inode = self.resolve(path)
            inode.times = times or (time.time_ns(), time.time_ns())
            return 0

    def access(self, path, amode):
        with self.mutex:
            self.resolve(path)
            return 0


def main():
    backing, mountpoint = sys.argv[1], sys.argv[2]
    fuse.FUSE(CrashFS(backing), mountpoint, foreground=True, nothreads=True, hard_remove=True)


if __name__ == "__main__":
    main()
